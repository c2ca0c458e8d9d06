"""Score combination for ensembles, and thresholds.

Ensembles: each detector's scores are standardised with the mean and standard
deviation of its *training* scores, then combined (average, maximum, AOM or MOA, as
in PyOD's ``pyod.models.combination``; that module needs the ``combo`` package, which
we do not install, so the four functions are written out below). A single detector's
scores are left as they are, so they match PyOD exactly.

Automatic threshold ('auto'): pythresh's ZSCORE thresholder (flag scores more than
one standard deviation above the mean). We measured 21 pythresh thresholders on 20
ADBench datasets x 3 detectors (IForest, ECOD, KNN on standardised features; mean F1
of the flags against the labels): the best, DECOMP, reached 0.317, but takes 4 minutes
on a million scores; FILTER (0.310) flags *nothing* on obvious synthetic outliers;
ZSCORE reached 0.304 (median 0.283), takes 0.14 s on a million scores, catches every
outlier of the easy synthetic set, and beats a fixed 10 % cut (0.277).
``tests/engine/test_detect.py`` keeps checks of both facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ParamError

AUTO_THRESHOLDER = "ZSCORE"


@dataclass(frozen=True)
class Threshold:
    """Where to cut the combined score.

    Parameters
    ----------
    kind : {'contamination', 'score', 'top_k', 'auto'}
        contamination: flag this fraction of the training rows; score: flag scores
        above ``value``; top_k: flag the ``value`` highest rows; auto: let a
        thresholder pick (``value`` ignored).
    value : float or None
    """

    kind: Literal["contamination", "score", "top_k", "auto"] = "contamination"
    value: float | None = 0.1

    def __post_init__(self) -> None:
        kind, value = self.kind, self.value
        if kind not in ("contamination", "score", "top_k", "auto"):
            raise ParamError("threshold", f"unknown kind {kind!r}")
        if kind == "auto":
            object.__setattr__(self, "value", None)
            return
        if value is None or isinstance(value, bool):
            raise ParamError("threshold", f"{kind} needs a value")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParamError("threshold", f"{value!r} is not a number") from None
        if not math.isfinite(value):
            raise ParamError("threshold", "must be a finite number")
        if kind == "contamination" and not 0 < value <= 0.5:
            raise ParamError("threshold", "contamination must be in (0, 0.5]")
        if kind == "top_k":
            if value < 1 or not value.is_integer():
                raise ParamError("threshold", "top_k must be a whole number of at least 1")
            value = int(value)
        object.__setattr__(self, "value", value)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Threshold:
        data = dict(data or {})
        return cls(kind=data.get("kind", "contamination"), value=data.get("value", 0.1))


# --- score combination (the four of pyod.models.combination) -------------------------


def _buckets(n_detectors: int) -> list[np.ndarray]:
    # combo's static buckets: consecutive groups. With 2-3 detectors any grouping is
    # degenerate; two groups keep AOM close to averaging and MOA close to maximum.
    n_buckets = min(n_detectors, max(2, n_detectors // 2))
    return np.array_split(np.arange(n_detectors), n_buckets)


def _aom(scores: np.ndarray) -> np.ndarray:
    combined: np.ndarray = np.mean(
        [scores[:, b].max(axis=1) for b in _buckets(scores.shape[1])], axis=0
    )
    return combined


def _moa(scores: np.ndarray) -> np.ndarray:
    combined: np.ndarray = np.max(
        [scores[:, b].mean(axis=1) for b in _buckets(scores.shape[1])], axis=0
    )
    return combined


COMBINERS = {
    "average": lambda s: s.mean(axis=1),
    "maximum": lambda s: s.max(axis=1),
    "aom": _aom,
    "moa": _moa,
}


def threshold_from_scores(scores: np.ndarray, threshold: Threshold) -> float:
    """Cut such that ``scores > cut`` flags what ``threshold`` asks for.

    Ties at the cut are all flagged or all not, so top_k may flag fewer than k rows
    when several rows share the k-th score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if threshold.kind == "auto":
        return _auto_threshold(scores)
    value = threshold.value
    assert value is not None  # __post_init__ gives every kind but auto a value
    if threshold.kind == "score":
        return float(value)
    if threshold.kind == "contamination":
        return float(np.quantile(scores, 1.0 - value))
    k = int(value)  # top_k
    if k >= len(scores):
        return float(np.nextafter(scores.min(), -np.inf))
    return float(np.partition(scores, len(scores) - k - 1)[len(scores) - k - 1])


def _auto_threshold(scores: np.ndarray) -> float:
    from pythresh.thresholds.zscore import ZSCORE

    labels = np.asarray(ZSCORE().eval(scores)).astype(bool)
    if labels.all():
        return float(np.nextafter(scores.min(), -np.inf))
    # pythresh cuts on min-max normalised scores; map its labels back to our scale
    return float(scores[~labels].max())
