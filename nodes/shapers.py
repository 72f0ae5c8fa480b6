"""shapers nodes (being written)."""
