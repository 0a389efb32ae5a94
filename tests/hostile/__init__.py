"""Hostile input: crashes, stalls and unknown extensions (issue 15, the core half)."""
