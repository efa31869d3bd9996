"""Benchmarks of the service against the codec limit; `python -m bench` (see docs/benchmarks.md)."""
