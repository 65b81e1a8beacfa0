"""Benchmarks that run against a live network and print figures."""
