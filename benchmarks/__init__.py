"""Benchmarks: cold-start imports per function and the cost of each message (``make bench``)."""
