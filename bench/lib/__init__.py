"""Shared helpers for the benchmarks: load generator, processes, hashing rate, tables."""
