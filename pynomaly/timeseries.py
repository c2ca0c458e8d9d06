"""Time-series analysis: a table read as one or many series, scored point by point, with
anomalous intervals.

A table becomes series by :class:`SeriesOptions`: a time column, one or several value
columns (several = one multivariate series), and optionally an id column (one series per
id). Each series is sorted by time, its gaps interpolated, each value column standardised,
and one detector of the ``time series`` family (:mod:`pynomaly.ts_detectors`) is fitted on
it. PyOD's time-series detectors are transductive: the scores of a series are those of its
fit.

Scores of different series are not on one scale (a detector fitted per series), so each
series' scores are standardised (median and MAD) before one threshold is cut over all
points: a contamination of 2 % then flags the 2 % most unusual points of the fleet, not 2 %
of every series. Severity is the score's percentile among all points.

Intervals are flagged points of one series merged in time order, bridging at most
:data:`MAX_GAP` unflagged points (a noisy stretch flags most, not all, of its points) —
like Orion's events: start, end, severity (the highest in the interval). They are computed
from the points at any threshold (:func:`intervals`), so a page shows the intervals of the
run's current threshold.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import catalogue, results, ts_detectors
from .errors import Cancelled, DataError, DetectionFailed, EngineError, ParamError
from .scores import Threshold, threshold_from_scores

Progress = Callable[[str, int, int], None]
ShouldStop = Callable[[], bool]

SERIES, TIME, INTERVAL, VALUE = "series", "time", "interval", "value:"
MAX_GAP = 2
MAX_SERIES = 1000
MAX_SUMMARY_INTERVALS = 500
SINGLE = ""  # the series id of a table without an id column


@dataclass(frozen=True)
class SeriesOptions:
    """How a table is read as series (the run's ``analysis_options``).

    ``value_columns`` empty means every numeric column but the time, id and excluded ones.
    ``window``, when set, is the window of every detector that takes one (overriding the
    detector configuration's).
    """

    time_column: str
    value_columns: tuple[str, ...] = ()
    id_column: str | None = None
    window: int | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SeriesOptions:
        raw = dict(raw or {})
        time_column = str(raw.get("time_column") or "").strip()
        if not time_column:
            raise ParamError("time_column", "a time-series analysis needs a time column")
        values = raw.get("value_columns") or ()
        if isinstance(values, str):
            values = [v for v in values.split(",")]
        window = raw.get("window")
        if window in ("", None):
            window = None
        else:
            try:
                window = int(window)
            except (TypeError, ValueError):
                raise ParamError("window", f"{window!r} is not a whole number") from None
            if not 2 <= window <= 2000:
                raise ParamError("window", "must be between 2 and 2000 points")
        return cls(
            time_column=time_column,
            value_columns=tuple(str(v).strip() for v in values if str(v).strip()),
            id_column=(str(raw.get("id_column") or "").strip() or None),
            window=window,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value_columns"] = list(self.value_columns)
        return data

    def check(self, columns: Sequence[str], numeric: Sequence[str]) -> SeriesOptions:
        """Validate against a table's columns (``numeric``: its numeric ones); the resolved
        options (value columns filled in).

        Raises
        ------
        ParamError
            Naming the option (``time_column``, ``value_columns``, ``id_column``).
        """
        names = set(columns)
        if self.time_column not in names:
            raise ParamError("time_column", f"the dataset has no column {self.time_column!r}")
        if self.id_column is not None:
            if self.id_column not in names:
                raise ParamError("id_column", f"the dataset has no column {self.id_column!r}")
            if self.id_column == self.time_column:
                raise ParamError("id_column", "must differ from the time column")
        taken = {self.time_column, self.id_column}
        values = self.value_columns or tuple(c for c in numeric if c not in taken)
        for name in values:
            if name not in names:
                raise ParamError("value_columns", f"the dataset has no column {name!r}")
            if name in taken:
                raise ParamError("value_columns", f"{name!r} is the time or the id column")
            if name not in set(numeric):
                raise ParamError("value_columns", f"{name!r} is not a numeric column")
        if not values:
            raise ParamError("value_columns", "the dataset has no numeric column to analyse")
        return SeriesOptions(self.time_column, tuple(values), self.id_column, self.window)


def numeric_columns(df: pd.DataFrame) -> list[str]:
    return [
        str(c)
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]


@dataclass
class Series:
    """One series: its rows' positions in the table (time order), times and values."""

    id: str
    rows: np.ndarray
    times: np.ndarray
    values: np.ndarray  # (points, value columns), gaps interpolated


def _times(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError("the time column has empty values", column=name)
        return np.asarray(values)
    with warnings.catch_warnings():  # "could not infer format": parsed one by one, fine
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
    bad = int(parsed.isna().sum())
    if bad:
        raise DataError(f"{bad:,} values of the time column are not times", column=name)
    return np.asarray(parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"))


def split(df: pd.DataFrame, options: SeriesOptions) -> list[Series]:
    """The table's series, each sorted by time (``options`` already :meth:`checked`)."""
    times = _times(df[options.time_column], options.time_column)
    values = df[list(options.value_columns)].to_numpy(dtype=np.float64)
    if options.id_column is None:
        groups = {SINGLE: np.arange(len(df))}
    else:
        ids = df[options.id_column]
        if ids.isna().any():
            raise DataError("the id column has empty values", column=options.id_column)
        codes, uniques = pd.factorize(ids.astype(str), sort=True)
        if len(uniques) > MAX_SERIES:
            raise DataError(
                f"{len(uniques):,} series: at most {MAX_SERIES:,} are analysed in one run",
                column=options.id_column,
            )
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        groups = {str(u): order[bounds[i] : bounds[i + 1]] for i, u in enumerate(uniques.tolist())}
    out = []
    for sid, rows in groups.items():
        rows = rows[np.argsort(times[rows], kind="stable")]
        block = pd.DataFrame(values[rows]).interpolate(limit_direction="both")
        if block.isna().any().any():
            empty = options.value_columns[int(np.flatnonzero(block.isna().all().to_numpy())[0])]
            where = f" in series {sid!r}" if sid else ""
            raise DataError(f"no value at all{where}", column=empty)
        out.append(Series(sid, rows, times[rows], block.to_numpy(dtype=np.float64)))
    return out


def _standardise(values: np.ndarray) -> np.ndarray:
    mean, std = scaling_of(values)
    return np.asarray((values - mean) / std)


def robust_scale(scores: np.ndarray) -> tuple[float, float]:
    """Scores of different series go on one scale as (score - median) / spread: the median
    and spread (1.4826 MAD, else the standard deviation, else 1) of ``scores``."""
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median)))
    if not spread > 0:
        spread = float(scores.std()) or 1.0
    return median, spread


def scaling_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and divisor :func:`_standardise` applies to a series' value columns."""
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


def window_features(values: np.ndarray, window: int) -> pd.DataFrame:
    """Per point: its last ``window`` values (lags), their mean and spread, and how far the
    point lies from them — per value column. The first points repeat the first value."""
    n, k = values.shape
    columns: dict[str, np.ndarray] = {}
    padded = np.vstack([np.repeat(values[:1], window - 1, axis=0), values])
    stack = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, k, w)
    for j in range(k):
        w = stack[:, j, :]
        for lag in range(window):
            columns[f"c{j}_lag{lag}"] = w[:, window - 1 - lag]
        mean, std = w.mean(axis=1), w.std(axis=1)
        columns[f"c{j}_mean"] = mean
        columns[f"c{j}_std"] = std
        columns[f"c{j}_diff"] = values[:, j] - np.r_[values[0, j], values[:-1, j]]
    return pd.DataFrame(columns)


@dataclass
class SeriesResult:
    """Points of every series (in table row order) and the cut that flags them."""

    rows: np.ndarray
    series: np.ndarray
    times: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    severity: np.ndarray
    threshold: float
    value_columns: list[str]
    options: SeriesOptions
    key: str
    params: dict[str, Any]
    estimators: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    # per series: what a trained model needs to score it again on the same scale
    # ({"mean", "std", "median", "spread", "points"}, see pynomaly.ts_model)
    scaling: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: np.ndarray | None = None
    seed: int = 42

    def intervals(self, threshold: float | None = None) -> list[dict[str, Any]]:
        flagged = self.labels.astype(bool) if threshold is None else self.scores > threshold
        return intervals(self.series, self.times, self.scores, self.severity, flagged)


def _params_for(key: str, params: Mapping[str, Any], options: SeriesOptions) -> dict[str, Any]:
    spec = catalogue.get_detector(key)
    out = spec.validate_params(params)
    name = ts_detectors.window_param(spec.key)
    if options.window is not None and name:
        try:
            out[name] = spec.param(name).coerce(options.window)
        except ParamError as exc:
            raise ParamError("window", f"{spec.short_name}'s {exc.message}") from None
    return out


def _fit_one(
    key: str,
    params: dict[str, Any],
    values: np.ndarray,
    seed: int,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[np.ndarray, Any]:
    """Raw per-point scores of one (standardised) series, and the fitted estimator."""
    if key == ts_detectors.WINDOW_FEATURES:
        from .detect import PipelineConfig, detect

        if int(params["window_size"]) >= len(values):
            raise ParamError(
                "window_size",
                f"the window of {params['window_size']} points is not shorter than the "
                f"series ({len(values)} points): choose a smaller window",
            )
        frame = window_features(values, int(params["window_size"]))
        config = PipelineConfig(detectors=((params["base"], {}),), seed=seed)
        fitted, result = detect(frame, config)
        return result.scores, fitted
    estimator = ts_detectors.build(key, params, seed=seed, contamination=0.1, n_points=len(values))
    if key in ts_detectors.TORCH_KEYS:
        import torch

        from . import deep

        torch.manual_seed(seed)
        # per-epoch progress, and a cancel inside an epoch (optimizer-step hooks)
        with deep.training(
            key, estimator, rows=len(values), on_epoch=on_epoch, should_stop=should_stop
        ):
            estimator.fit(values)
        return np.asarray(estimator.decision_scores_, dtype=np.float64), estimator
    estimator.fit(values)
    return np.asarray(estimator.decision_scores_, dtype=np.float64), estimator


def detect(
    df: pd.DataFrame,
    options: SeriesOptions,
    *,
    key: str,
    params: Mapping[str, Any] | None = None,
    threshold: Threshold | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> SeriesResult:
    """Fit ``key`` on every series of ``df`` and flag points over one threshold.

    The torch detectors (LSTMAD, AnomalyTransformer) report to ``on_epoch`` after every
    epoch ``{"epoch", "epochs", "loss", "eta_seconds", "elapsed_seconds"}``, counted over all
    series (series 2 of 3 with 5 epochs each: epochs 6-10 of 15; ``loss`` is None: PyOD keeps
    no loss we can read) and stop within an epoch when ``should_stop`` says so.

    Raises
    ------
    DataError, ParamError, UnknownDetector, DetectorUnavailable, DetectionFailed, Cancelled
    """
    spec = catalogue.get_detector(key)
    if spec.family != ts_detectors.FAMILY:
        raise ParamError("detectors", f"{spec.short_name} is not a time-series detector")
    options = options.check([str(c) for c in df.columns], numeric_columns(df))
    threshold = threshold or Threshold()
    full = _params_for(spec.key, params or {}, options)
    started = time.perf_counter()
    if progress:
        progress("preparing", 0, 1)
    parts = split(df, options)
    if progress:
        progress("preparing", 1, 1)
    n = len(df)
    scores = np.empty(n, dtype=np.float64)
    series_ids = np.empty(n, dtype=object)
    estimators: dict[str, Any] = {}
    scaling: dict[str, dict[str, Any]] = {}
    for done, part in enumerate(parts):
        if should_stop is not None and should_stop():
            raise Cancelled("stopped on request")
        if progress:
            progress("fitting", done, len(parts))
        where = f" (series {part.id!r})" if part.id else ""
        if len(part.rows) < 8:
            raise DataError(
                f"a series needs at least 8 points; this one has {len(part.rows)}{where}"
            )

        def epoch(detail: dict[str, Any], done: int = done) -> None:
            if on_epoch is None:
                return
            per = int(detail["epochs"])
            total, current = per * len(parts), done * per + int(detail["epoch"])
            elapsed = time.perf_counter() - started
            on_epoch(
                {
                    **detail,
                    "epoch": current,
                    "epochs": total,
                    "elapsed_seconds": round(elapsed, 1),
                    "eta_seconds": round(elapsed / max(current, 1) * (total - current), 1),
                }
            )

        try:
            raw, estimator = _fit_one(
                spec.key, full, _standardise(part.values), seed, epoch, should_stop
            )
        except ParamError as exc:
            raise ParamError(exc.field, exc.message + where) from exc
        except (EngineError, MemoryError):
            raise
        except Exception as exc:  # the algorithms raise anything; report, don't crash
            raise DetectionFailed(f"{spec.short_name} failed{where}: {exc}") from exc
        if not np.isfinite(raw).all():
            raise DetectionFailed(f"{spec.short_name} produced non-finite scores{where}")
        median, spread = robust_scale(raw)
        scores[part.rows] = (raw - median) / spread
        series_ids[part.rows] = part.id
        estimators[part.id] = estimator
        mean, std = scaling_of(part.values)
        scaling[part.id] = {
            "mean": mean,
            "std": std,
            "median": median,
            "spread": spread,
            "points": len(part.rows),
        }
    if progress:
        progress("fitting", len(parts), len(parts))
        progress("scoring", 1, 1)
    cut = threshold_from_scores(scores, threshold)
    grid = np.quantile(scores, np.linspace(0, 1, 1001))
    severity = 100.0 * np.searchsorted(grid, scores, side="right") / len(grid)
    return SeriesResult(
        rows=np.arange(n, dtype=np.int64),
        series=series_ids.astype(str),
        times=_times(df[options.time_column], options.time_column),
        values=df[list(options.value_columns)].to_numpy(dtype=np.float64),
        scores=scores,
        labels=(scores > cut).astype(np.int8),
        severity=severity,
        threshold=float(cut),
        value_columns=list(options.value_columns),
        options=options,
        key=spec.key,
        params=full,
        estimators=estimators,
        seconds=time.perf_counter() - started,
        scaling=scaling,
        grid=grid,
        seed=seed,
    )


def intervals(
    series: np.ndarray,
    times: np.ndarray,
    scores: np.ndarray,
    severity: np.ndarray,
    flagged: np.ndarray,
    *,
    max_gap: int = MAX_GAP,
) -> list[dict[str, Any]]:
    """Flagged points merged into intervals per series (see the module note), by start.

    Each interval: ``series, start, end`` (times), ``start_row, end_row`` (table rows),
    ``points`` (points from start to end), ``flagged``, ``score`` and ``severity`` (the
    highest in it).
    """
    series = np.asarray(series).astype(str)
    out: list[dict[str, Any]] = []
    for sid in np.unique(series):
        rows = np.flatnonzero(series == sid)
        rows = rows[np.argsort(times[rows], kind="stable")]
        hits = np.flatnonzero(flagged[rows])
        if not len(hits):
            continue
        breaks = np.flatnonzero(np.diff(hits) > max_gap + 1)
        for first, last in zip(np.r_[0, breaks + 1], np.r_[breaks, len(hits) - 1], strict=True):
            span = rows[hits[first] : hits[last] + 1]
            members = rows[hits[first : last + 1]]
            out.append(
                {
                    "series": str(sid),
                    "start": _time_value(times[span[0]]),
                    "end": _time_value(times[span[-1]]),
                    "start_row": int(span[0]),
                    "end_row": int(span[-1]),
                    "points": int(len(span)),
                    "flagged": int(len(members)),
                    "score": float(scores[members].max()),
                    "severity": float(severity[members].max()),
                }
            )
    out.sort(key=lambda i: (i["start"], i["series"]))
    return out


def _time_value(value: Any) -> Any:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return float(value)


def interval_ids(
    n: int, found: list[dict[str, Any]], series: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Per point, the index of the interval it lies in (-1: none)."""
    ids = np.full(n, -1, dtype=np.int32)
    for i, item in enumerate(found):
        rows = np.flatnonzero(series == item["series"])
        t0, t1 = times[item["start_row"]], times[item["end_row"]]
        inside = rows[(times[rows] >= t0) & (times[rows] <= t1)]
        ids[inside] = i
    return ids


# ---------------------------------------------------------------- results
def table(result: SeriesResult) -> pa.Table:
    """The results table (:mod:`pynomaly.results`' four columns) plus ``series``, ``time``,
    ``interval`` and one ``value:<column>`` per value column, for the results page."""
    found = result.intervals()
    columns: dict[str, Any] = {
        results.ROW_ID: pa.array(result.rows),
        results.SCORE: pa.array(result.scores),
        results.LABEL: pa.array(result.labels.astype(np.int8)),
        results.SEVERITY: pa.array(result.severity),
        SERIES: pa.array(result.series.astype(str)),
        TIME: pa.array(result.times),
        INTERVAL: pa.array(interval_ids(len(result.rows), found, result.series, result.times)),
    }
    for j, name in enumerate(result.value_columns):
        columns[VALUE + name] = pa.array(result.values[:, j])
    return pa.table(columns)


def write(result: SeriesResult, path: str | os.PathLike[str]) -> None:
    """Write the results Parquet (complete or not at all)."""
    target = os.fspath(path)
    tmp = target + ".part"
    try:
        pq.write_table(table(result), tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def summarize(result: SeriesResult, *, top: int = 20) -> dict[str, Any]:
    """JSON-able summary: the tabular summary's keys plus ``timeseries`` (options, series,
    intervals at the run's threshold)."""
    n = len(result.scores)
    anomalies = int(result.labels.sum())
    order = np.lexsort((result.rows, -result.scores))[: max(0, min(top, n))]
    found = result.intervals()
    per_series = []
    for sid in np.unique(result.series):
        mask = result.series == sid
        per_series.append(
            {
                "id": str(sid),
                "points": int(mask.sum()),
                "anomalies": int(result.labels[mask].sum()),
                "intervals": sum(1 for i in found if i["series"] == sid),
            }
        )
    ranked = sorted(found, key=lambda i: -i["severity"])[:MAX_SUMMARY_INTERVALS]
    return {
        "rows": n,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / n if n else 0.0,
        "threshold": float(result.threshold),
        "quantiles": results.quantiles(result.scores),
        "top": [
            {
                "row": int(i),
                "score": float(result.scores[i]),
                "severity": float(result.severity[i]),
                "series": str(result.series[i]),
                "time": _time_value(result.times[i]),
            }
            for i in order
        ],
        "detectors": [result.key],
        "timeseries": {
            "options": result.options.to_dict(),
            "detector": result.key,
            "params": dict(result.params),
            "series": per_series,
            "intervals": sorted(ranked, key=lambda i: (i["start"], i["series"])),
            "intervals_total": len(found),
            "max_gap": MAX_GAP,
            "fit_seconds": round(result.seconds, 3),
        },
    }
