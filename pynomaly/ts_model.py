"""Trained time-series models: saved without pickle, verified before they are parsed, and
scoring new data on the scale of their training.

A time-series run fits one detector per series (:mod:`pynomaly.timeseries`). Its model is
those detectors plus what puts new points on the training's scale: per series the value
columns' mean and spread, the raw scores' median and spread, and over all points the
threshold and the severity grid. Scoring a table reads it as the same series (time, value and
id columns), standardises each series with the training's numbers and scores it with that
series' detector, so the same data gets the same scores as the run that trained the model.

The file is an ``.npz`` (a zip of ``.npy`` arrays, read with ``allow_pickle=False``): a JSON
header (format tag and version, detector, parameters, options, per-series state) and plain
numeric arrays. What a detector needs beyond arrays travels as bytes in an array:

* TimeSeriesOD's base detector: skops, with the tabular path's allowlist for that base
  (:func:`pynomaly.persist.trusted_types`, checked with ``get_untrusted_types`` first);
* the window-feature detector: the tabular model file itself (:func:`pynomaly.persist.save`);
* LSTMAD and AnomalyTransformer: :func:`pynomaly.ts_detectors.save_torch` (``state_dict``,
  read back with ``torch.load(weights_only=True)``).

SpectralResidual, SAND and KShape keep their state as arrays (SAND's and KShape's centroids).
MatrixProfile is transductive (PyOD cannot score new data with it): scoring computes the
matrix profile of the new series itself, then applies the training's scale and threshold.

The SHA-256 of the whole file is checked before anything is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import catalogue, ts_detectors
from .errors import ArtifactError, Cancelled, DataError, DetectionFailed, EngineError
from .timeseries import (
    Progress,
    SeriesOptions,
    SeriesResult,
    ShouldStop,
    _times,
    numeric_columns,
    split,
    window_features,
)

FORMAT = "pynomaly-ts-model"
FORMAT_VERSION = 1
SUFFIX = ".npz"
_HEADER = "header"
_MAX_HEADER = 16 * 1024 * 1024
_STATE_ARRAYS = ("decision_scores_", "labels_")


def is_ts_model(data: bytes) -> bool:
    """Whether ``data`` looks like a time-series model file (a zip with our header)."""
    return data[:2] == b"PK" and _HEADER.encode() in data[:4096]


@dataclass
class SeriesState:
    """One series of a trained model: its detector and the numbers that scaled it."""

    estimator: Any
    mean: np.ndarray
    std: np.ndarray
    median: float
    spread: float
    points: int


@dataclass
class TimeSeriesModel:
    """A trained time-series model (one detector per series)."""

    key: str
    params: dict[str, Any]
    options: SeriesOptions
    seed: int
    threshold: float
    grid: np.ndarray
    series: dict[str, SeriesState] = field(default_factory=dict)

    @property
    def input_columns(self) -> list[str]:
        """The columns a table needs to be scored: time, values, then the id (if any)."""
        opts = self.options
        return [
            opts.time_column,
            *opts.value_columns,
            *([opts.id_column] if opts.id_column else []),
        ]

    @classmethod
    def from_result(cls, result: SeriesResult) -> TimeSeriesModel:
        """The model of a :func:`pynomaly.timeseries.detect` result."""
        if result.grid is None or set(result.scaling) != set(result.estimators):
            raise ArtifactError("this result keeps no per-series scale; it cannot be saved")
        series = {
            sid: SeriesState(
                estimator=result.estimators[sid],
                mean=np.asarray(s["mean"], dtype=np.float64),
                std=np.asarray(s["std"], dtype=np.float64),
                median=float(s["median"]),
                spread=float(s["spread"]),
                points=int(s["points"]),
            )
            for sid, s in result.scaling.items()
        }
        return cls(
            key=result.key,
            params=dict(result.params),
            options=result.options,
            seed=int(result.seed),
            threshold=float(result.threshold),
            grid=np.asarray(result.grid, dtype=np.float64),
            series=series,
        )

    # ------------------------------------------------------------------ scoring
    def check_columns(self, columns: list[str]) -> None:
        """A clear error naming the first column the table lacks.

        Raises
        ------
        DataError
        """
        missing = [c for c in self.input_columns if c not in set(columns)]
        if missing:
            raise DataError(
                f"the data has no column {missing[0]!r}; this time-series model reads "
                + ", ".join(self.input_columns),
                column=missing[0],
            )

    def score(
        self,
        df: pd.DataFrame,
        *,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> SeriesResult:
        """Score every point of ``df`` with the trained detectors (no fit).

        Raises
        ------
        DataError
            A missing or non-numeric column, or a series the model was not trained on.
        DetectionFailed, Cancelled
        """
        self.check_columns([str(c) for c in df.columns])
        opts = self.options
        options = SeriesOptions(opts.time_column, opts.value_columns, opts.id_column, None)
        try:
            options = options.check([str(c) for c in df.columns], numeric_columns(df))
        except EngineError as exc:
            raise DataError(str(exc)) from exc
        started = time.perf_counter()
        if progress:
            progress("preparing", 0, 1)
        parts = split(df, options)
        unknown = [p.id for p in parts if p.id not in self.series]
        if unknown:
            known = ", ".join(repr(s) for s in list(self.series)[:5])
            raise DataError(
                f"series {unknown[0]!r} was not in the data this model was trained on "
                f"(it knows {len(self.series)}: {known}{', …' if len(self.series) > 5 else ''})",
                column=opts.id_column,
            )
        if progress:
            progress("preparing", 1, 1)
        n = len(df)
        scores = np.empty(n, dtype=np.float64)
        series_ids = np.empty(n, dtype=object)
        spec = catalogue.get_detector(self.key)
        for done, part in enumerate(parts):
            if should_stop is not None and should_stop():
                raise Cancelled("stopped on request")
            if progress:
                progress("scoring", done, len(parts))
            state = self.series[part.id]
            where = f" (series {part.id!r})" if part.id else ""
            values = np.asarray((part.values - state.mean) / state.std)
            try:
                raw = _score_one(self.key, self.params, state.estimator, values, self.seed)
            except (EngineError, MemoryError):
                raise
            except Exception as exc:  # the algorithms raise anything; report, don't crash
                raise DetectionFailed(f"{spec.short_name} failed{where}: {exc}") from exc
            if len(raw) != len(part.rows) or not np.isfinite(raw).all():
                raise DetectionFailed(f"{spec.short_name} produced unusable scores{where}")
            scores[part.rows] = (raw - state.median) / state.spread
            series_ids[part.rows] = part.id
        if progress:
            progress("scoring", len(parts), len(parts))
        severity = 100.0 * np.searchsorted(self.grid, scores, side="right") / len(self.grid)
        return SeriesResult(
            rows=np.arange(n, dtype=np.int64),
            series=series_ids.astype(str),
            times=_times(df[options.time_column], options.time_column),
            values=df[list(options.value_columns)].to_numpy(dtype=np.float64),
            scores=scores,
            labels=(scores > self.threshold).astype(np.int8),
            severity=severity,
            threshold=float(self.threshold),
            value_columns=list(options.value_columns),
            options=options,
            key=self.key,
            params=dict(self.params),
            seconds=time.perf_counter() - started,
            seed=self.seed,
        )


def _score_one(
    key: str, params: dict[str, Any], estimator: Any, values: np.ndarray, seed: int
) -> np.ndarray:
    """Raw scores of one standardised series with its trained detector."""
    if key == ts_detectors.WINDOW_FEATURES:
        frame = window_features(values, int(params["window_size"]))
        return np.asarray(estimator.score(frame).scores, dtype=np.float64)
    if key == "matrixprofile":  # transductive: its profile over the series scored
        fresh = ts_detectors.build(key, params, seed=seed, contamination=0.1, n_points=len(values))
        fresh.fit(values)
        return np.asarray(fresh.decision_scores_, dtype=np.float64)
    return np.asarray(estimator.decision_function(values), dtype=np.float64)


# ---------------------------------------------------------------------- saving
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(model: TimeSeriesModel) -> bytes:
    """The model as ``.npz`` bytes (see the module note).

    Raises
    ------
    ArtifactError
        A detector whose state cannot be stored safely.
    """
    arrays: dict[str, np.ndarray] = {"grid": np.asarray(model.grid, dtype=np.float64)}
    entries = []
    for i, (sid, state) in enumerate(model.series.items()):
        prefix = f"s{i}."
        arrays[prefix + "mean"] = np.asarray(state.mean, dtype=np.float64)
        arrays[prefix + "std"] = np.asarray(state.std, dtype=np.float64)
        try:
            entry = _dump_estimator(model.key, model.params, state.estimator, prefix, arrays)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"the {model.key} model could not be saved: {exc}") from exc
        entries.append(
            {
                "id": sid,
                "median": state.median,
                "spread": state.spread,
                "points": state.points,
                **entry,
            }
        )
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _library_versions(),
        "key": model.key,
        "params": model.params,
        "options": model.options.to_dict(),
        "seed": model.seed,
        "threshold": model.threshold,
        "series": entries,
    }
    members: dict[str, Any] = {_HEADER: np.frombuffer(json.dumps(header).encode(), np.uint8)}
    members.update(arrays)  # the header first: is_ts_model reads the start of the file
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **members)
    return buffer.getvalue()


def _dump_estimator(
    key: str, params: dict[str, Any], estimator: Any, prefix: str, arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if key == ts_detectors.WINDOW_FEATURES:
        from . import persist

        with tempfile.TemporaryDirectory(prefix="pynomaly-ts-save-") as tmp:
            path = Path(tmp) / "base.skops"
            persist.save(estimator, path)
            arrays[prefix + "pipeline"] = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        return entry
    if key in ts_detectors.TORCH_KEYS:
        arrays[prefix + "torch"] = np.frombuffer(ts_detectors.save_torch(estimator), np.uint8)
        return entry
    for name in _STATE_ARRAYS:
        arrays[prefix + name] = np.asarray(getattr(estimator, name))
    entry["threshold_"] = float(estimator.threshold_)
    if hasattr(estimator, "n_channels_"):
        entry["n_channels_"] = int(estimator.n_channels_)
    if key in ("sand", "kshape"):
        centroids = list(estimator.centroids_)
        entry["centroids"] = len(centroids)
        for c, array in enumerate(centroids):
            arrays[f"{prefix}centroids{c}"] = np.asarray(array, dtype=np.float64)
    if key == "timeseriesod":
        import skops.io

        arrays[prefix + "base"] = np.frombuffer(skops.io.dumps(estimator.detector_), np.uint8)
    return entry


def save(model: TimeSeriesModel, path: str | os.PathLike[str]) -> str:
    """Write the model to ``path``; return its SHA-256 (the caller keeps it, e.g. in the
    database, and passes it to :func:`load`)."""
    data = dumps(model)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return _sha256(data)


# ---------------------------------------------------------------------- loading
def load(path: str | os.PathLike[str], *, sha256: str) -> TimeSeriesModel:
    """Read a model :func:`save` wrote, after checking its SHA-256.

    Raises
    ------
    ArtifactError
        Unreadable, modified or unverifiable file, unknown format version, untrusted types.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"model file cannot be read: {exc}") from exc
    return loads(data, sha256=sha256)


def loads(data: bytes, *, sha256: str) -> TimeSeriesModel:
    """:func:`load` from bytes."""
    if not hmac.compare_digest(_sha256(data), str(sha256).strip().lower()):
        raise ArtifactError(
            "model file was modified after it was saved (checksum mismatch); refusing to load it"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # not a zip, a damaged member, an object array
        raise ArtifactError(f"this file is not a readable time-series model: {exc}") from exc
    raw = arrays.get(_HEADER)
    if raw is None or raw.dtype != np.uint8 or raw.size > _MAX_HEADER:
        raise ArtifactError("this file is not a Pynomaly time-series model")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"the model's header is not readable: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ArtifactError("this file is not a Pynomaly time-series model")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"time-series model format version {version!r} is not supported by this "
            f"Pynomaly (supported: {FORMAT_VERSION})"
        )
    try:
        return _model_from(header, arrays)
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, EngineError) as exc:
        raise ArtifactError(f"model file is incomplete or inconsistent: {exc}") from exc


def _model_from(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> TimeSeriesModel:
    key = str(header["key"])
    spec = catalogue.get_detector(key)
    if spec.family != ts_detectors.FAMILY:
        raise ArtifactError(f"model file is inconsistent: {key} is not a time-series detector")
    params = spec.validate_params(dict(header["params"]))
    options = SeriesOptions.from_dict(header["options"])
    seed = int(header["seed"])
    series: dict[str, SeriesState] = {}
    for i, entry in enumerate(header["series"]):
        prefix = f"s{i}."
        estimator = _load_estimator(key, params, entry, prefix, arrays, seed)
        series[str(entry["id"])] = SeriesState(
            estimator=estimator,
            mean=np.asarray(arrays[prefix + "mean"], dtype=np.float64),
            std=np.asarray(arrays[prefix + "std"], dtype=np.float64),
            median=float(entry["median"]),
            spread=float(entry["spread"]),
            points=int(entry["points"]),
        )
    if not series:
        raise ArtifactError("model file is incomplete: it holds no series")
    return TimeSeriesModel(
        key=key,
        params=params,
        options=options,
        seed=seed,
        threshold=float(header["threshold"]),
        grid=np.asarray(arrays["grid"], dtype=np.float64),
        series=series,
    )


def _blob(arrays: dict[str, np.ndarray], name: str) -> bytes:
    array = arrays[name]
    if array.dtype != np.uint8:
        raise ArtifactError(f"model file is inconsistent: {name} is not bytes")
    return array.tobytes()


def _load_estimator(
    key: str,
    params: dict[str, Any],
    entry: dict[str, Any],
    prefix: str,
    arrays: dict[str, np.ndarray],
    seed: int,
) -> Any:
    points = int(entry["points"])
    if key == ts_detectors.WINDOW_FEATURES:
        from . import persist

        data = _blob(arrays, prefix + "pipeline")
        with tempfile.TemporaryDirectory(prefix="pynomaly-ts-load-") as tmp:
            path = Path(tmp) / "base.skops"
            path.write_bytes(data)
            fitted = persist.load(path, sha256=_sha256(data))  # the outer digest covers it
        if list(fitted.keys) != [params["base"]]:
            raise ArtifactError("model file is inconsistent: the window model's base differs")
        return fitted
    if key in ts_detectors.TORCH_KEYS:
        try:
            estimator = ts_detectors.load_torch(_blob(arrays, prefix + "torch"))
        except Exception as exc:  # torch refuses anything but tensors and plain values
            raise ArtifactError(f"the {key} network cannot be loaded: {exc}") from exc
        expected = catalogue.get_detector(key).class_path
        if f"{type(estimator).__module__}.{type(estimator).__qualname__}" != expected:
            raise ArtifactError(f"model file is inconsistent: {key} holds another network")
        return estimator
    estimator = ts_detectors.build(key, params, seed=seed, contamination=0.1, n_points=points)
    for name in _STATE_ARRAYS:
        setattr(estimator, name, np.asarray(arrays[prefix + name]))
    estimator.threshold_ = float(entry["threshold_"])
    estimator._classes = 2
    if "n_channels_" in entry:
        estimator.n_channels_ = int(entry["n_channels_"])
    if key in ("sand", "kshape"):
        estimator.centroids_ = [
            np.asarray(arrays[f"{prefix}centroids{c}"], dtype=np.float64)
            for c in range(int(entry["centroids"]))
        ]
    if key == "timeseriesod":
        estimator.detector_ = _load_base(str(params["base"]), _blob(arrays, prefix + "base"))
    return estimator


def _load_base(base: str, data: bytes) -> Any:
    """TimeSeriesOD's tabular detector: skops with the tabular allowlist for ``base``."""
    from .persist import load_trusted_skops, trusted_types

    detector = load_trusted_skops(data, trusted_types([base]), what="the base detector")
    expected = catalogue.get_detector(base).class_path
    actual = f"{type(detector).__module__}.{type(detector).__qualname__}"
    if actual != expected:
        raise ArtifactError(f"model file is inconsistent: {base} holds a {actual}")
    return detector


def _library_versions() -> dict[str, str | None]:
    from .persist import _library_versions as versions

    return versions()


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SUFFIX",
    "SeriesState",
    "TimeSeriesModel",
    "dumps",
    "is_ts_model",
    "load",
    "loads",
    "save",
]
