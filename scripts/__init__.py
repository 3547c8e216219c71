"""Benchmarks and load tools; run them as scripts (python scripts/NAME.py)."""
