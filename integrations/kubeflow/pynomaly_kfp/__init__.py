"""Kubeflow Pipelines (v2) for Pynomaly: :func:`~pynomaly_kfp.components.pynomaly_run`, a
lightweight Python component that starts a detection run through the SDK and waits for it,
and :func:`~pynomaly_kfp.pipeline.pynomaly_pipeline`, an example pipeline around it."""

__version__ = "0.1.0"
