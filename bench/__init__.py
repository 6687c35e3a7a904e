"""Benchmarks: run them with `make bench`; each reports medians and ratios to a baseline."""
