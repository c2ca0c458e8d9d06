"""A detector trained with partial labels: gradient boosting on detector scores (+ features).

Known anomalies are the positives; every other row (known normals and unlabelled rows,
which are mostly normal) the negatives - the positive-unlabelled setting of ADBench's
semi-supervised benchmark. The features are the prepared columns plus the standardised
scores of a few unsupervised detectors fitted on all rows (their "transformed outlier
scores", as in XGBOD). Two boosters:

* ``lightgbm``: LightGBM on [features, scores];
* ``xgbod``: PyOD's XGBOD (XGBoost from ``xgboost-cpu``) with the same base detectors.

Both reload from a skops file without pickle: LightGBM's and XGBoost's boosters store their
own text/binary model format in their state, which skops keeps as bytes/str and hands back
to the libraries' parsers (``pynomaly.persist`` trusts exactly these types).

Trees give many rows the same probability; a small share of the base detectors' consensus
(``blend``) orders rows the boosters cannot tell apart, and more of it lets the labels only
re-rank what the detectors already find.

Imported only when such a detector is built, never while listing the catalogue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyod.models.base import BaseDetector
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

BOOSTERS = ("lightgbm", "xgbod")
_TIE_BREAK = 1e-3


def parse_base(text: str) -> list[str]:
    """Detector keys from ``"iforest,knn"`` (stripped, lower case, no empties)."""
    return [k.strip().lower() for k in str(text).split(",") if k.strip()]


def positives(y: ArrayLike) -> NDArray[np.int64]:
    """1 for known anomalies, 0 for everything else (known normal or unknown)."""
    values = np.asarray(y, dtype=np.float64)
    out: NDArray[np.int64] = (values == 1).astype(np.int64)
    return out


def new_bases(base: str, random_state: int | None) -> list[Any]:
    """Unfitted base detectors for ``base`` (comma-separated catalogue keys)."""
    from . import catalogue

    seed = 0 if random_state is None else int(random_state)
    return [catalogue.build_detector(k, {}, seed=seed) for k in parse_base(base)]


def score_stats(raw: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column mean and standard deviation of base scores (1 where a column is flat)."""
    std = raw.std(axis=0)
    return raw.mean(axis=0), np.where(std > 0, std, 1.0)


def lightgbm_classifier(n_pos: int, weight: float, seed: int, n_estimators: int = 100) -> Any:
    """The LightGBM model LabelBoost trains (and automatic selection cross-validates)."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=int(n_estimators),
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=max(2, min(20, n_pos)),
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        scale_pos_weight=weight,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    out: NDArray[np.float64] = np.log(p) - np.log1p(-p)
    return out


class LabelBoost(BaseDetector):  # type: ignore[misc]  # PyOD ships no type information
    """Gradient boosting on unsupervised detector scores and features, trained on labels.

    Parameters
    ----------
    booster : {'lightgbm', 'xgbod'}
    base : str
        Comma-separated catalogue keys of the unsupervised base detectors.
    blend : float
        Weight of the base detectors' mean standardised score added to the booster's
        standardised log-odds.
    n_estimators : int
        Boosting rounds.
    contamination : float
        Only for PyOD's own ``labels_``; Pynomaly thresholds separately.
    random_state : int or None

    Attributes
    ----------
    bases_ : list
        Fitted base detectors (``lightgbm``; for ``xgbod`` they live in ``model_``).
    model_ : LGBMClassifier or XGBOD
    tos_mean_, tos_std_ : ndarray
        Training statistics of the base scores.
    logit_mean_, logit_std_ : float
        Training statistics of the booster's log-odds.
    """

    def __init__(
        self,
        booster: str = "lightgbm",
        base: str = "iforest,ecod,hbos",
        blend: float = 0.0,
        n_estimators: int = 100,
        contamination: float = 0.1,
        random_state: int | None = None,
    ) -> None:
        super().__init__(contamination=contamination)
        self.booster = booster
        self.base = base
        self.blend = blend
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> LabelBoost:
        if self.booster not in BOOSTERS:
            raise ValueError(f"booster must be one of {', '.join(BOOSTERS)}")
        rows: NDArray[np.float64] = check_array(X)
        if y is None:
            raise ValueError("needs training labels (1 = anomaly, 0 = normal, empty = unknown)")
        target = positives(y)
        if len(target) != len(rows):
            raise ValueError(f"{len(target)} labels for {len(rows)} rows")
        n_pos = int(target.sum())
        if n_pos == 0 or n_pos == len(target):
            raise ValueError("the labels need at least one known anomaly and one other row")
        self._set_n_classes(None)
        seed = 0 if self.random_state is None else int(self.random_state)
        weight = (len(target) - n_pos) / n_pos
        if self.booster == "lightgbm":
            self.bases_ = new_bases(self.base, self.random_state)
            raw = np.column_stack([b.fit(rows).decision_scores_ for b in self.bases_])
            self.tos_mean_, self.tos_std_ = score_stats(raw)
            self.model_ = lightgbm_classifier(n_pos, weight, seed, self.n_estimators)
            self.model_.fit(self._stack(rows, self._tos(rows)), target)
        else:
            from pyod.models.xgbod import XGBOD

            bases = new_bases(self.base, self.random_state)
            self.model_ = XGBOD(
                estimator_list=bases,
                standardization_flag_list=[False] * len(bases),
                n_estimators=int(self.n_estimators),
                scale_pos_weight=weight,
                random_state=seed,
                n_jobs=1,
            )
            self.model_.fit(rows, target)
            # the training matrix XGBOD keeps is not needed to score and would bloat the file
            for attr in ("X_train_new_", "X_train_add_"):
                if hasattr(self.model_, attr):
                    delattr(self.model_, attr)
            self.tos_mean_, self.tos_std_ = score_stats(self._tos(rows))
        self.logit_mean_, self.logit_std_ = 0.0, 1.0
        logit = self._logit(rows, self._tos(rows))
        self.logit_mean_ = float(logit.mean())
        self.logit_std_ = float(logit.std()) or 1.0
        self.decision_scores_ = self.decision_function(rows)
        self._process_decision_scores()
        return self

    # -- scoring -----------------------------------------------------------------------
    def _tos(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw base-detector scores (rows x bases)."""
        if self.booster == "lightgbm":
            return np.column_stack([b.decision_function(X) for b in self.bases_])
        tos: NDArray[np.float64] = self.model_._generate_new_features(X)
        return tos

    @staticmethod
    def _stack(X: NDArray[np.float64], tos: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.ascontiguousarray(np.hstack([X, tos]))

    def _logit(self, X: NDArray[np.float64], tos: NDArray[np.float64]) -> NDArray[np.float64]:
        classifier: Any = self.model_ if self.booster == "lightgbm" else self.model_.clf_
        p = np.asarray(classifier.predict_proba(self._stack(X, tos)), dtype=np.float64)
        return _logit(p[:, 1])

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, ["model_"])
        rows: NDArray[np.float64] = check_array(X)
        tos = self._tos(rows)
        logit = (self._logit(rows, tos) - self.logit_mean_) / self.logit_std_
        consensus = ((tos - self.tos_mean_) / self.tos_std_).mean(axis=1)
        out: NDArray[np.float64] = logit + (float(self.blend) + _TIE_BREAK) * consensus
        return out.astype(np.float64)


class LabelNear(BaseDetector):  # type: ignore[misc]  # PyOD ships no type information
    """An unsupervised consensus, raised near the known anomalies: for a few labels.

    With a handful of labelled anomalies nothing can be cross-validated and a booster
    learns the rows it saw. What a few verdicts do say is *where* anomalies are. The score
    of a row is its rank among the training rows by the base detectors' consensus (the
    mean of their standardised scores, 0-1), plus ``exp(-(d / b)^2)``, where ``d`` is its
    distance to the nearest known anomaly and ``b`` is ``width`` times the data's typical
    distance between neighbours (the median distance of a row to its 5th nearest
    neighbour). A row next to a known anomaly moves up by almost one; a row far from all
    of them keeps its unsupervised rank. Known normals (an analyst's "not an anomaly")
    lower the rows near them the same way.

    Parameters
    ----------
    base : str
        Comma-separated catalogue keys of the unsupervised base detectors.
    width : float
        The reach of a known anomaly, in typical neighbour distances.
    contamination : float
        Only for PyOD's own ``labels_``; Pynomaly thresholds separately.
    random_state : int or None

    Attributes
    ----------
    bases_ : list
        Fitted base detectors.
    tos_mean_, tos_std_ : ndarray
        Training statistics of the base scores.
    train_consensus_ : ndarray
        The training rows' consensus, sorted (new rows are ranked against it).
    anomalies_, normals_ : ndarray
        The known anomalies' and known normals' rows (prepared features; at most
        ``MAX_NORMALS`` normals, a seeded sample).
    bandwidth_ : float
        ``width`` times the median 5th-neighbour distance.
    """

    NEIGHBOUR = 5
    SAMPLE = 2_000  # rows whose neighbour distance estimates the typical one
    MAX_NORMALS = 1_000  # each scored row is compared with every one kept

    def __init__(
        self,
        base: str = "iforest,knn",
        width: float = 2.0,
        contamination: float = 0.1,
        random_state: int | None = None,
    ) -> None:
        super().__init__(contamination=contamination)
        self.base = base
        self.width = width
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> LabelNear:
        from sklearn.neighbors import NearestNeighbors

        rows: NDArray[np.float64] = check_array(X)
        if y is None:
            raise ValueError("needs training labels (1 = anomaly, 0 = normal, empty = unknown)")
        target = positives(y)
        if len(target) != len(rows):
            raise ValueError(f"{len(target)} labels for {len(rows)} rows")
        if not target.any():
            raise ValueError("the labels need at least one known anomaly")
        if len(rows) <= self.NEIGHBOUR:
            raise ValueError(f"needs more than {self.NEIGHBOUR} rows")
        self.bases_ = new_bases(self.base, self.random_state)
        if not self.bases_:
            raise ValueError("needs at least one base detector")
        self._set_n_classes(None)
        seed = 0 if self.random_state is None else int(self.random_state)
        raw = np.column_stack([b.fit(rows).decision_scores_ for b in self.bases_])
        self.tos_mean_, self.tos_std_ = score_stats(raw)
        self.train_consensus_ = np.sort(((raw - self.tos_mean_) / self.tos_std_).mean(axis=1))
        self.anomalies_ = np.ascontiguousarray(rows[target == 1])
        rng = np.random.default_rng(seed)
        normal = np.flatnonzero(np.asarray(y, dtype=np.float64) == 0)
        if len(normal) > self.MAX_NORMALS:
            normal = np.sort(rng.choice(normal, size=self.MAX_NORMALS, replace=False))
        self.normals_ = np.ascontiguousarray(rows[normal])
        sample = rows
        if len(rows) > self.SAMPLE:
            sample = rows[rng.choice(len(rows), size=self.SAMPLE, replace=False)]
        nn = NearestNeighbors(n_neighbors=self.NEIGHBOUR + 1).fit(rows)
        typical = float(np.median(nn.kneighbors(sample)[0][:, -1]))
        self.bandwidth_ = float(self.width) * (typical if typical > 0 else 1.0)
        self.decision_scores_ = self.decision_function(rows)
        self._process_decision_scores()
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, ["bases_", "anomalies_"])
        rows: NDArray[np.float64] = check_array(X)
        raw = np.column_stack([b.decision_function(rows) for b in self.bases_])
        consensus = ((raw - self.tos_mean_) / self.tos_std_).mean(axis=1)
        rank = np.searchsorted(self.train_consensus_, consensus, side="right") / len(
            self.train_consensus_
        )
        out: NDArray[np.float64] = rank + self._near(rows, self.anomalies_)
        if len(self.normals_):
            out -= self._near(rows, self.normals_)
        return out.astype(np.float64)

    def _near(self, rows: NDArray[np.float64], known: NDArray[np.float64]) -> NDArray[np.float64]:
        """exp(-(d / bandwidth)^2), d the distance of each row to the nearest of ``known``."""
        from sklearn.metrics import pairwise_distances_argmin_min

        _, distance = pairwise_distances_argmin_min(rows, known)
        out: NDArray[np.float64] = np.exp(-((distance / self.bandwidth_) ** 2))
        return out
