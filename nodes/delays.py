"""delays nodes (being written)."""
