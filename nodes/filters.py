"""filters nodes (being written)."""
