"""A trained model written as ONNX for ``pynomaly-edge`` (API, web download, CLI via the SDK).

The artifact is read like scoring reads it (``persist.load`` with the row's SHA-256), then
:func:`pynomaly.onnx_export.export_onnx` builds the graph and checks its scores against the
platform's; :class:`~pynomaly.onnx_export.NotExportable` says why a pipeline cannot go.
"""

from __future__ import annotations

from apps.common.storage import local_path
from apps.detectors.models import TrainedModel


def export_onnx_bytes(model: TrainedModel) -> bytes:
    """The ``.onnx`` file of ``model``; raises NotExportable or ArtifactError."""
    from pynomaly import persist
    from pynomaly.onnx_export import export_onnx

    with local_path(model.artifact) as path:
        fitted = persist.load(path, sha256=model.sha256)
    return export_onnx(fitted)


def onnx_filename(model: TrainedModel) -> str:
    return f"model-{model.pk}.onnx"
