"""pynomaly-edge: score a Pynomaly ONNX export on raw records (onnxruntime + numpy only)."""

from .model import EdgeModel

__all__ = ["EdgeModel"]
