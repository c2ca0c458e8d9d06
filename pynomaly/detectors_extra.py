"""Detectors Pynomaly adds to PyOD's set.

Imported only when such a detector is built, never while listing the catalogue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyod.models.base import BaseDetector
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted


class DBSCANDetector(BaseDetector):  # type: ignore[misc]  # PyOD ships no type information
    """Density clustering (DBSCAN) turned into an outlier score.

    DBSCAN itself only says "noise" or "cluster member". To rank rows we score
    each one by its distance to the nearest *core sample* found on the training
    data: core points score 0, border points a little, and noise points more the
    further they lie from any dense region. New rows are scored the same way, so
    the score needs no refit.

    Parameters
    ----------
    eps : float, default 0.5
        Neighbourhood radius used by DBSCAN.
    min_samples : int, default 5
        Neighbours (including the point) a point needs within ``eps`` to be core.
    metric : str, default "euclidean"
        Distance metric, as understood by scikit-learn.
    contamination : float, default 0.1
        Only used for PyOD's own ``labels_``; Pynomaly thresholds separately.

    Attributes
    ----------
    core_samples_ : ndarray of shape (n_core, n_features)
        The training rows DBSCAN marked as core.
    decision_scores_ : ndarray of shape (n_samples,)
        Scores of the training rows.
    """

    def __init__(
        self,
        eps: float = 0.5,
        min_samples: int = 5,
        metric: str = "euclidean",
        contamination: float = 0.1,
    ) -> None:
        super().__init__(contamination=contamination)
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric

    def fit(self, X: ArrayLike, y: Any = None) -> DBSCANDetector:
        rows: NDArray[np.float64] = check_array(X)
        self._set_n_classes(y)
        clusterer = DBSCAN(eps=self.eps, min_samples=self.min_samples, metric=self.metric)
        clusterer.fit(rows)
        if len(clusterer.core_sample_indices_) == 0:
            raise ValueError(
                f"no dense region found (eps={self.eps}, min_samples={self.min_samples}); "
                "increase eps or lower min_samples"
            )
        self.core_samples_ = np.ascontiguousarray(rows[clusterer.core_sample_indices_])
        self.nn_ = NearestNeighbors(n_neighbors=1, metric=self.metric).fit(self.core_samples_)
        self.decision_scores_ = self.decision_function(rows)
        self._process_decision_scores()
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, ["nn_"])
        X = check_array(X)
        distances: NDArray[np.float64] = self.nn_.kneighbors(X, n_neighbors=1)[0]
        return distances[:, 0].astype(np.float64)
