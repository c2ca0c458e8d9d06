"""Pynomaly engine: anomaly detection on tabular data, free of any web framework.

Everything the platform computes goes through this package, so a result is the same
whether it came from the browser, the REST API, the CLI or a notebook.
"""

__version__ = "0.1.0"
