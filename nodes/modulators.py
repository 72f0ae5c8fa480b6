"""modulators nodes (being written)."""
