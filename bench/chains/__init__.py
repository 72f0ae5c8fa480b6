"""The reference chain in three implementations, each a script timed by bench/versus.py."""
