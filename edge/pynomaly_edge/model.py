"""Load an exported ``.onnx`` file and score raw records like the platform.

The preparation spec is the JSON in the model's ``metadata_props["pynomaly"]`` written by
``pynomaly.onnx_export``; this module re-implements ``pynomaly.prepare.Preparer.transform``
for it with numpy only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort


class EdgeError(ValueError):
    """Bad model file or record (shown to the user, exit status 2)."""


def _number(value: Any, column: str) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return 1.0 if value.strip().lower() == "true" else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EdgeError(f"column '{column}' holds a non-numeric value {value!r}") from None


class EdgeModel:
    def __init__(self, data: bytes) -> None:
        try:
            self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise EdgeError(f"not an ONNX model: {exc}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "pynomaly" not in meta:
            raise EdgeError("not a Pynomaly export (no 'pynomaly' metadata)")
        self.spec: dict[str, Any] = json.loads(meta["pynomaly"])
        self.input_columns: list[str] = list(self.spec["input_columns"])
        self.threshold = float(self.spec["threshold"])
        self.grid = np.asarray(self.spec["severity_grid"], dtype=np.float64)
        self.center = np.asarray(self.spec["center"], dtype=np.float64)
        self.scale = np.asarray(self.spec["scale"], dtype=np.float64)

    @classmethod
    def load(cls, path: str) -> EdgeModel:
        try:
            with open(path, "rb") as fh:
                return cls(fh.read())
        except OSError as exc:
            raise EdgeError(f"cannot read model {path}: {exc.strerror}") from None

    def prepare(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        blocks = []
        for step in self.spec["plan"]:
            name = step["column"]
            if records and name not in records[0]:
                raise EdgeError(f"column '{name}' used in training is missing")
            raw = [r.get(name) for r in records]
            if step["kind"] in ("numeric", "bool"):
                values = np.array([_number(v, name) for v in raw], dtype=np.float64)
                finite = np.isfinite(values)
                if not finite.all():
                    if not self.spec["impute"]:
                        raise EdgeError(f"column '{name}' has missing values; imputation is off")
                    values = np.where(finite, values, step["median"])
                blocks.append(values[:, None])
                continue
            index = {c: i for i, c in enumerate(step["categories"])}
            codes = np.array(
                [-1 if v is None or v == "" else index.get(str(v), -1) for v in raw], dtype=np.int64
            )
            if step["kind"] == "onehot":
                full = codes[:, None] == np.arange(len(step["categories"]))
                keep = [step["categories"].index(f.split("=", 1)[1]) for f in step["features"]]
                blocks.append(full[:, keep].astype(np.float64))
            else:
                freq = np.append(np.asarray(step["frequencies"], dtype=np.float64), 0.0)
                blocks.append(freq[codes][:, None])
        matrix = np.hstack(blocks) if blocks else np.zeros((len(records), 0))
        if self.spec["scaling"] != "none":
            matrix = (matrix - self.center) / self.scale
        return np.ascontiguousarray(matrix, dtype=np.float64)

    def score_prepared(self, X: np.ndarray) -> np.ndarray:
        out = self.session.run(["score"], {"X": np.asarray(X, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float64).ravel()

    def score(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Per record: ``score``, ``anomaly`` (bool) and ``severity`` (0-100)."""
        if not records:
            return []
        scores = self.score_prepared(self.prepare(records))
        severity = 100.0 * np.searchsorted(self.grid, scores, side="right") / max(1, len(self.grid))
        return [
            {"score": float(s), "anomaly": bool(s > self.threshold), "severity": float(v)}
            for s, v in zip(scores, severity, strict=True)
        ]
