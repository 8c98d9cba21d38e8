"""Benchmarks and the cost model; each module also runs as a script."""
