"""Simulated upstreams that speak the real wire formats, for tests, benchmarks and the local demo."""
