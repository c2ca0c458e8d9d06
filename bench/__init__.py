"""Benchmarks: the pynomaly CLI against the plain pandas + PyOD script it replaces."""
