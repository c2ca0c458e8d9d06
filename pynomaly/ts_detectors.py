"""Time-series detectors: PyOD 3's ``ts_*`` classes and a tabular detector on window features.

The catalogue lists them as the family ``time series`` (:func:`specs`); they never run in the
tabular pipeline (:mod:`pynomaly.detect` refuses them) but in :mod:`pynomaly.timeseries`,
which fits one detector per series. Parameters are declared here rather than read from the
signatures: a time-series class takes a window, a base detector or a torch network size that
the tabular rules of :mod:`pynomaly.params` know nothing about, and the ranges keep the
torch models within what a CPU worker trains in minutes.

Costs, measured on this machine (2 loaded cores; ``tests/engine/test_timeseries.py`` and the
module note of :mod:`pynomaly.cost`): SAND and KShape are the slow ones.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import DetectorUnavailable, ParamError
from .params import ParamSpec

FAMILY = "time series"
WINDOW_FEATURES = "windowfeatures"
_WINDOW = ParamSpec("window_size", "int", 50, minimum=4, maximum=2000, help="Points per window")
_AGGREGATION = ParamSpec(
    "channel_aggregation",
    "choice",
    "max",
    choices=("max", "mean"),
    help="How the scores of several value columns are combined",
)
_TORCH_NOTE = "trains a torch network: epochs x points; keep epochs small on CPU"


def _base_choices() -> tuple[str, ...]:
    """Tabular detectors a window detector can sit on: fast, unsupervised, available."""
    return ("iforest", "ecod", "copod", "hbos", "pca", "knn", "lof", "ocsvm", "mcd", "gmm")


def _base() -> ParamSpec:
    return ParamSpec(
        "base",
        "choice",
        "iforest",
        choices=_base_choices(),
        help="Tabular detector fitted on the windows (a catalogue key)",
    )


# key -> (short name, class path, params, complexity class, description, requires, extra)
_TABLE: dict[str, dict[str, Any]] = {
    "spectralresidual": {
        "short_name": "SpectralResidual",
        "class_path": "pyod.models.ts_spectral_residual.SpectralResidual",
        "params": (
            ParamSpec("score_window", "int", 3, minimum=2, maximum=500, help="Averaging width"),
            _AGGREGATION,
        ),
        "complexity": "nlogn",
        "window_param": None,
    },
    "matrixprofile": {
        "short_name": "MatrixProfile",
        "class_path": "pyod.models.ts_matrix_profile.MatrixProfile",
        "params": (_WINDOW, _AGGREGATION),
        "complexity": "quadratic",
        "window_param": "window_size",
    },
    "timeseriesod": {
        "short_name": "TimeSeriesOD",
        "class_path": "pyod.models.ts_od.TimeSeriesOD",
        "params": (
            _base(),
            _WINDOW,
            ParamSpec("step", "int", 1, minimum=1, maximum=100, help="Points between windows"),
            ParamSpec("score_aggregation", "choice", "max", choices=("max", "mean")),
        ),
        "complexity": "nlogn",
        "window_param": "window_size",
    },
    WINDOW_FEATURES: {
        "short_name": "WindowFeatures",
        "class_path": "pynomaly.timeseries.window_features",
        "params": (
            _base(),
            ParamSpec("window_size", "int", 12, minimum=2, maximum=500, help="Lags per point"),
        ),
        "complexity": "nlogn",
        "window_param": "window_size",
        "name": "Window and lag features + a tabular detector",
        "description": "Each point becomes its last values, their mean, spread and change; "
        "a tabular detector (with the engine's scaling) scores those rows",
    },
    "lstmad": {
        "short_name": "LSTMAD",
        "class_path": "pyod.models.ts_lstm.LSTMAD",
        "params": (
            ParamSpec("window_size", "int", 30, minimum=2, maximum=500, help="Look-back points"),
            ParamSpec("hidden_size", "int", 32, minimum=2, maximum=512),
            ParamSpec("n_layers", "int", 1, minimum=1, maximum=4),
            ParamSpec("epochs", "int", 5, minimum=1, maximum=200),
            ParamSpec("lr", "float", 1e-3, minimum=0.0, exclusive_minimum=True, maximum=1.0),
            ParamSpec("batch_size", "int", 64, minimum=1, maximum=4096),
        ),
        "complexity": "linear",
        "requires": ("torch",),
        "window_param": "window_size",
        "torch": True,
    },
    "anomalytransformer": {
        "short_name": "AnomalyTransformer",
        "class_path": "pyod.models.ts_anomaly_transformer.AnomalyTransformer",
        "params": (
            ParamSpec("window_size", "int", 50, minimum=4, maximum=500),
            ParamSpec("d_model", "int", 32, minimum=4, maximum=512),
            ParamSpec("n_heads", "int", 2, minimum=1, maximum=16),
            ParamSpec("n_layers", "int", 1, minimum=1, maximum=6),
            ParamSpec("epochs", "int", 2, minimum=1, maximum=100),
            ParamSpec("lr", "float", 1e-4, minimum=0.0, exclusive_minimum=True, maximum=1.0),
            ParamSpec("batch_size", "int", 32, minimum=1, maximum=2048),
            ParamSpec("step", "int", 1, minimum=1, maximum=100),
        ),
        "complexity": "linear",
        "requires": ("torch",),
        "window_param": "window_size",
        "torch": True,
    },
    "sand": {
        "short_name": "SAND",
        "class_path": "pyod.models.ts_sand.SAND",
        "params": (
            _WINDOW,
            ParamSpec("n_clusters", "int", 5, minimum=1, maximum=50),
            ParamSpec("alpha", "float", 0.5, minimum=0.0, maximum=1.0),
            ParamSpec("batch_size", "int", 100, minimum=10, maximum=100_000),
            _AGGREGATION,
        ),
        "complexity": "quadratic",
        "window_param": "window_size",
    },
    "kshape": {
        "short_name": "KShape",
        "class_path": "pyod.models.ts_kshape.KShape",
        "params": (
            ParamSpec("n_clusters", "int", 3, minimum=1, maximum=50),
            _WINDOW,
            ParamSpec("max_iter", "int", 20, minimum=1, maximum=500),
            _AGGREGATION,
        ),
        "complexity": "quadratic",
        "window_param": "window_size",
    },
}
TORCH_KEYS = frozenset(k for k, v in _TABLE.items() if v.get("torch"))


def keys() -> list[str]:
    return list(_TABLE)


def window_param(key: str) -> str | None:
    """The parameter the run's ``window`` option sets for ``key`` (None: it has none)."""
    name = _TABLE[key]["window_param"]
    return str(name) if name else None


def specs(knowledge: Mapping[str, Any]) -> list[Any]:
    """Catalogue entries (``DetectorSpec``) for every time-series detector, in ``FAMILY``.

    ``knowledge`` is PyOD's ``algorithms.json``: names, strengths and big-O texts come from
    it where it has the class.
    """
    from .catalogue import DetectorSpec, _availability

    out = []
    for key, row in _TABLE.items():
        kb = dict(knowledge.get(row["short_name"]) or {})
        requires = tuple(row.get("requires", ()))
        available, reason, hint = _availability(row["short_name"], requires)
        complexity = kb.get("complexity") or {}
        strengths = tuple(kb.get("strengths") or ())
        weaknesses = tuple(kb.get("weaknesses") or ())
        if row.get("torch"):
            weaknesses += (_TORCH_NOTE,)
        if kb.get("status") == "experimental":
            weaknesses += ("PyOD marks it experimental",)
        params = tuple(row["params"])
        out.append(
            DetectorSpec(
                key=key,
                short_name=row["short_name"],
                name=row.get("name") or kb.get("full_name") or row["short_name"],
                family=FAMILY,
                description=row.get("description") or kb.get("best_for") or "",
                avoid_when=kb.get("avoid_when") or "",
                strengths=strengths,
                weaknesses=weaknesses,
                complexity_time=complexity.get("time", "O(n log n) for the base detector"),
                complexity_space=complexity.get("space", "O(n)"),
                complexity_class=row["complexity"],
                params=params,
                requires=requires,
                available=available,
                unavailable_reason=reason,
                install_hint=hint,
                saveable=True,  # by pynomaly.ts_model (not pynomaly.persist)
                contributions=False,
                class_path=row["class_path"],
                benchmark_rank=None,  # TSB-AD ranks are not ADBench ranks: not comparable
                param_index={p.name: p for p in params},
            )
        )
    return out


def build(
    key: str,
    params: Mapping[str, Any],
    *,
    seed: int,
    contamination: float,
    n_points: int,
) -> Any:
    """An unfitted PyOD time-series detector for ``key`` (``windowfeatures`` is not one).

    Windows longer than the series are refused with the series length in the message.

    Raises
    ------
    ParamError, DetectorUnavailable
    """
    from .catalogue import build_detector, get_detector

    spec = get_detector(key)
    if not spec.available:
        raise DetectorUnavailable(f"{spec.short_name} cannot run here: {spec.unavailable_reason}")
    kwargs = spec.validate_params(params)
    window = window_param(spec.key)
    if window and int(kwargs[window]) >= n_points:
        raise ParamError(
            window,
            f"{spec.short_name}'s window of {kwargs[window]} points is not shorter than the "
            f"series ({n_points} points): choose a smaller window",
        )
    module_name, _, class_name = spec.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise DetectorUnavailable(f"{spec.short_name} cannot be imported: {exc}") from exc
    if "base" in kwargs:
        base = build_detector(kwargs.pop("base"), {}, seed=seed, contamination=contamination)
        kwargs["detector"] = base
    if spec.key in ("sand", "kshape"):
        kwargs["random_state"] = seed
    if spec.key == "anomalytransformer":
        kwargs["device"] = "cpu"
        if int(kwargs["d_model"]) % int(kwargs["n_heads"]):
            raise ParamError("n_heads", "must divide d_model")
    return cls(contamination=contamination, **kwargs)


# ---------------------------------------------------------------- torch persistence
def save_torch(estimator: Any) -> bytes:
    """An LSTMAD / AnomalyTransformer as bytes: network ``state_dict`` + fitted attributes.

    Written with :mod:`pynomaly.torch_state` (no pickle); :func:`load_torch` rebuilds the
    network from the constructor parameters and the channel count, then loads the weights.
    """
    from . import torch_state

    name = type(estimator).__name__
    if name not in ("LSTMAD", "AnomalyTransformer"):
        raise TypeError(f"{name} is not a torch time-series detector")
    net = estimator.model_._net if name == "LSTMAD" else estimator.model_
    attributes: dict[str, Any] = {
        "class": name,
        "params": {
            k: v for k, v in estimator.get_params().items() if isinstance(v, int | float | str)
        },
        "n_channels_": int(estimator.n_channels_),
        "threshold_": float(estimator.threshold_),
        "decision_scores_": np.asarray(estimator.decision_scores_, dtype=np.float64),
        "labels_": np.asarray(estimator.labels_, dtype=np.int64),
    }
    if name == "LSTMAD":
        attributes["error_mu_"] = np.asarray(estimator.error_mu_, dtype=np.float64)
        attributes["error_cov_inv_"] = np.asarray(estimator.error_cov_inv_, dtype=np.float64)
    return torch_state.dumps(net.state_dict(), attributes)


def load_torch(data: bytes) -> Any:
    """The estimator :func:`save_torch` wrote, ready to score (weights_only load)."""
    from . import torch_state

    state, attributes = torch_state.loads(data)
    name, params = attributes["class"], attributes["params"]
    n_channels = int(attributes["n_channels_"])
    if name == "LSTMAD":
        from pyod.models.ts_lstm import LSTMAD, _LSTMModel

        estimator: Any = LSTMAD(**params)
        model = _LSTMModel(n_channels, estimator.hidden_size, estimator.n_layers)
        model._net.load_state_dict(state)
        model.eval()
        estimator.error_mu_ = attributes["error_mu_"]
        estimator.error_cov_inv_ = attributes["error_cov_inv_"]
    elif name == "AnomalyTransformer":
        from pyod.models.ts_anomaly_transformer import (
            AnomalyTransformer,
            _AnomalyTransformerModel,
        )

        estimator = AnomalyTransformer(**params)
        model = _AnomalyTransformerModel(
            n_channels=n_channels,
            window_size=estimator.window_size,
            d_model=estimator.d_model,
            n_heads=estimator.n_heads,
            n_layers=estimator.n_layers,
            dropout=estimator.dropout,
        )
        model.load_state_dict(state)
        model.eval()
    else:
        raise ValueError(f"not a torch time-series detector: {name!r}")
    estimator.model_ = model
    estimator.n_channels_ = n_channels
    estimator.threshold_ = attributes["threshold_"]
    estimator.decision_scores_ = attributes["decision_scores_"]
    estimator.labels_ = attributes["labels_"]
    estimator._classes = 2
    return estimator
