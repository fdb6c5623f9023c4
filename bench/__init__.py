"""Benchmarks against a real Postgres; `make bench` runs them (python -m bench)."""
