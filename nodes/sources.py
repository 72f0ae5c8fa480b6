"""sources nodes (being written)."""
