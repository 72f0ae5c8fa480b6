"""convolution nodes (being written)."""
