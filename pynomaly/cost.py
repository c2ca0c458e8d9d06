"""Pre-flight cost guard: a rough time and memory estimate before a run is started.

Pure functions over the catalogue's complexity classes; the web form, the API and the CLI
all call :func:`estimate` (or :func:`estimate_pipeline`) and show its texts. The constants were calibrated once on this kind of machine
(2 cores) by fitting and scoring 10 standard-normal features with PyOD defaults:

    rows     PCA    HBOS   ECOD   IForest   KNN    LOF
    10 000   0.1 s  (JIT)  0.6 s  1.3 s     7 s    9 s
    40 000   0.05s  0.06s  0.8 s  2.9 s     61 s   132 s

and LOCI needs 52 s for 315 rows. They are order-of-magnitude numbers: the page says "≈"
and the guard only has to tell "seconds" from "hours" and "fits in memory" from "does not".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Seconds per unit of work, by complexity class (see the table above).
_SECONDS = {
    "linear": 5e-7,  # per row x column
    "nlogn": 5e-7,  # per row x log2(rows) x column
    "quadratic": 6e-9,  # per fit row x scored row x column
    "cubic": 1.5e-7,  # per fit row^2 x scored row x column (LOCI: 315 rows ~ 50 s)
}
# Deep detectors: seconds per training row x epoch x column, from the measurements in
# DEPENDENCIES.md (10k x 20, 10 epochs, 2 cores): AutoEncoder ~67 s -> 3.4e-5,
# VAE ~21 s -> 1.1e-5, DeepSVDD ~5 s -> 2.5e-6. Measured again on 2026-12-02 (10k x 20,
# 2 epochs, PyOD fit including its training-score pass, load average 2.2): AutoEncoder
# 5.96 s -> 1.5e-5, VAE 1.91 s -> 4.8e-6, DeepSVDD 0.41 s -> 1.0e-6; on a machine at load
# 12 the AutoEncoder was 10x slower. We keep the higher figures (the careful side). The others (GAN-style, LUNAR, AE1SVM) are
# taken at the AutoEncoder's rate, the careful side. Scoring is one forward pass: cheap.
DEEP_SECONDS_PER_ROW_EPOCH_COLUMN = {"autoencoder": 3.4e-5, "vae": 1.1e-5, "deepsvdd": 2.5e-6}
DEEP_DEFAULT_SECONDS = 3.4e-5
# AnoGAN also optimises a latent point for every training row (``epochs_query`` Adam steps,
# one row at a time) to get its training scores, and scores new rows one at a time. Measured
# on 2026-12-02 (2,000 x 10, epochs 1, load average 2.4): fit 4.6 s with epochs_query 1 and
# 45.8 s with 11 -> 2.1e-3 s per row x query step, whatever the column count; scoring
# 2,000 rows 0.55 s -> 2.8e-4 s per row. With the default 20 steps that is 41 s per 1,000
# training rows: the per-row query, not the epochs, is what makes AnoGAN slow.
ANOGAN_SECONDS_PER_ROW_QUERY_STEP = 2.1e-3
ANOGAN_SCORE_SECONDS_PER_ROW = 2.8e-4
_OVERHEAD_SECONDS = 2.0  # loading, preparing, writing results
_BASE_MEMORY = 300 * 2**20  # a worker process with numpy, pandas, sklearn and PyOD loaded
_COPIES = 6  # data frame, prepared matrix, fit sample, scoring chunk, results, slack
_NEIGHBOUR_WORKING_MEMORY = 2**30  # sklearn's chunked pairwise distances stay under ~1 GB

LARGE_ROWS = {"quadratic": 50_000, "cubic": 5_000}
SLOW_SECONDS = 10 * 60
FAST_DETECTORS = ("iforest", "ecod", "hbos")


@dataclass(frozen=True)
class CostEstimate:
    seconds: float
    memory_bytes: int
    fit_rows: int
    warnings: list[str] = field(default_factory=list)
    suggested_max_fit_rows: int | None = None
    suggested_detectors: tuple[str, ...] = ()
    detectors: tuple[tuple[str, str], ...] = ()  # (short name, complexity class) estimated

    @property
    def heavy(self) -> bool:
        return bool(self.warnings)

    @property
    def time_text(self) -> str:
        return "≈ " + human_seconds(self.seconds)

    @property
    def memory_text(self) -> str:
        return "≈ " + human_bytes(self.memory_bytes)

    @property
    def summary_text(self) -> str:
        """The headline the run form shows: time, memory and fit sample."""
        text = f"Estimated cost: {self.time_text}, {self.memory_text} of memory"
        if self.fit_rows:
            text += f" (fitting on {self.fit_rows:,} rows)"
        return text + "."

    @property
    def suggestion_texts(self) -> list[str]:
        """What the run form suggests when the run looks heavy, as sentences."""
        out = []
        if self.suggested_max_fit_rows:
            out.append(
                f"Fit on a sample: use {self.suggested_max_fit_rows:,} rows "
                "(every row is still scored)."
            )
        if self.suggested_detectors:
            names = ", ".join(k.upper() for k in self.suggested_detectors)
            out.append(f"Or switch to a fast detector: {names}.")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the API's cost-guard refusal carries it)."""
        return {
            "seconds": round(float(self.seconds), 1),
            "memory_mb": round(self.memory_bytes / 2**20, 1),
            "fit_rows": self.fit_rows,
            "detectors": [{"name": n, "complexity": c} for n, c in self.detectors],
            "warnings": list(self.warnings),
            "suggested_max_fit_rows": self.suggested_max_fit_rows,
            "suggested_detectors": list(self.suggested_detectors),
        }


def human_seconds(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB", "MB") else f"{n:.1f} GB"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _detector_seconds(complexity_class: str, rows: int, fit_rows: int, columns: int) -> float:
    d = max(columns, 1)
    if complexity_class == "linear":
        return _SECONDS["linear"] * rows * d
    if complexity_class == "nlogn":
        return _SECONDS["nlogn"] * rows * math.log2(max(rows, 2)) * d
    if complexity_class == "quadratic":
        # Fitting compares the sample with itself, scoring every row with the sample.
        return _SECONDS["quadratic"] * fit_rows * (fit_rows + rows) / 2 * d
    return _SECONDS["cubic"] * fit_rows**2 * (fit_rows + rows) / 2 * d


def _detector_memory(complexity_class: str, fit_rows: int) -> int:
    if complexity_class in ("quadratic", "cubic"):
        return min(fit_rows * fit_rows * 8, _NEIGHBOUR_WORKING_MEMORY)
    return 0


def _affordable_rows(complexity_class: str, rows: int, columns: int, budget: float) -> int:
    """The largest fit sample whose estimate stays within ``budget`` seconds."""
    low, high = 100, max(rows, 100)
    while low < high:
        mid = (low + high + 1) // 2
        if _detector_seconds(complexity_class, rows, mid, columns) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def estimate(
    *,
    rows: int,
    columns: int,
    detectors: list[tuple[str, str]],
    max_fit_rows: int | None = None,
    budget_seconds: float = 120.0,
) -> CostEstimate:
    """Estimate a run of ``detectors`` ([(short name, complexity class)]) on rows x columns.

    Warns when a quadratic/cubic detector meets large data, or the whole run looks slow,
    and then suggests a fit sample size within ``budget_seconds`` and fast detectors.
    """
    rows = max(int(rows), 0)
    fit_rows = min(rows, max_fit_rows) if max_fit_rows else rows
    seconds = _OVERHEAD_SECONDS + sum(
        _detector_seconds(c, rows, fit_rows, columns) for _, c in detectors
    )
    memory = _BASE_MEMORY + rows * max(columns, 1) * 8 * _COPIES + rows * 8 * 4
    memory += max((_detector_memory(c, fit_rows) for _, c in detectors), default=0)

    warnings: list[str] = []
    slow = [(name, c) for name, c in detectors if c in LARGE_ROWS and fit_rows > LARGE_ROWS[c]]
    for name, c in slow:
        warnings.append(
            f"{name} is {c} in the number of rows: on {fit_rows:,} rows it gets very slow "
            f"(over {LARGE_ROWS[c]:,} rows is large for it)."
        )
    if seconds > SLOW_SECONDS and not slow:
        warnings.append(f"This run may take {human_seconds(seconds)}.")

    suggested_rows = None
    heavy = [c for _, c in detectors if c in LARGE_ROWS]
    if warnings and heavy:
        worst = "cubic" if "cubic" in heavy else "quadratic"
        share = budget_seconds / max(len(heavy), 1)
        candidate = _affordable_rows(worst, rows, columns, share)
        if candidate < fit_rows:
            suggested_rows = candidate
    keys = {name.lower() for name, _ in detectors}
    fast = tuple(k for k in FAST_DETECTORS if k not in keys) if warnings else ()
    return CostEstimate(
        seconds=seconds,
        memory_bytes=int(memory),
        fit_rows=fit_rows,
        warnings=warnings,
        suggested_max_fit_rows=suggested_rows,
        suggested_detectors=fast,
        detectors=tuple((str(n), str(c)) for n, c in detectors),
    )


def estimate_pipeline(
    *,
    rows: int,
    columns: int,
    keys: Iterable[str],
    max_fit_rows: int | None = None,
    params: Any = None,
) -> CostEstimate:
    """:func:`estimate` for catalogue keys; keys the catalogue does not know are left out.

    Deep detectors count rows x epochs (``params``: {key: params}, their defaults else).
    """
    from .catalogue import get_detector
    from .errors import UnknownDetector

    detectors: list[tuple[str, str]] = []
    deep_seconds = anogan_seconds = 0.0
    fit_rows = min(rows, max_fit_rows) if max_fit_rows else rows
    for key in keys:
        try:
            spec = get_detector(key)
        except UnknownDetector:
            continue
        if _is_deep(spec.key):
            epochs = deep_epochs(spec.key, (params or {}).get(spec.key))
            rate = DEEP_SECONDS_PER_ROW_EPOCH_COLUMN.get(spec.key, DEEP_DEFAULT_SECONDS)
            deep_seconds += rate * fit_rows * epochs * max(int(columns), 1)
            if spec.key == "anogan":
                query = _anogan_query_steps((params or {}).get(spec.key))
                anogan_seconds = (
                    ANOGAN_SECONDS_PER_ROW_QUERY_STEP * fit_rows * query
                    + ANOGAN_SCORE_SECONDS_PER_ROW * rows
                )
                deep_seconds += anogan_seconds
            continue
        detectors.append((spec.short_name, spec.complexity_class))
    result = estimate(
        rows=rows, columns=max(int(columns), 1), detectors=detectors, max_fit_rows=max_fit_rows
    )
    if not deep_seconds:
        return result
    seconds = result.seconds + deep_seconds
    warnings = list(result.warnings)
    if seconds > SLOW_SECONDS and not warnings:
        if anogan_seconds > seconds / 2:
            warnings.append(
                f"This run may take {human_seconds(seconds)}: AnoGAN optimises a latent "
                "point for every row, one row at a time (epochs_query steps each); fewer "
                "query steps or a fit sample make it faster."
            )
        else:
            warnings.append(
                f"This run may take {human_seconds(seconds)}: deep detectors train for "
                "rows x epochs (fewer epochs or a fit sample make it faster)."
            )
    return CostEstimate(
        seconds=seconds,
        memory_bytes=result.memory_bytes,
        fit_rows=result.fit_rows,
        warnings=warnings,
        suggested_max_fit_rows=result.suggested_max_fit_rows,
        suggested_detectors=result.suggested_detectors
        or (tuple(FAST_DETECTORS) if warnings else ()),
        detectors=result.detectors,
    )


def _is_deep(key: str) -> bool:
    """Trained for epochs (DIF does not train: it keeps its complexity class)."""
    from .deep import EPOCH_PARAM

    return key in EPOCH_PARAM


def _anogan_query_steps(params: dict[str, Any] | None) -> int:
    from .catalogue import get_detector

    merged = {**get_detector("anogan").defaults(), **(params or {})}
    return max(int(merged.get("epochs_query") or 1), 1)


def deep_epochs(key: str, params: dict[str, Any] | None = None) -> int:
    """Training epochs of deep detector ``key`` (its defaults unless ``params``); 0 if not deep."""
    from .catalogue import get_detector
    from .deep import is_deep, n_epochs

    if not is_deep(key):
        return 0
    spec = get_detector(key)
    return n_epochs(spec.key, {**spec.defaults(), **(params or {})})


# --- Time-series detectors (pynomaly.timeseries fits one detector per series) -----------
#
# CPU seconds to fit one series of n points with the catalogue's defaults (window 50),
# measured on this machine (2 loaded cores) by fitting sin + noise series
# (var/measure_cost.py in the zoo-ts branch; the figures are in pynomaly/ts_detectors.py):
#
#     points   SAND     KShape (max_iter 20)
#     1 000    2.7 s    1.5 s
#     2 000    5.9 s    6.2 s
#     4 000   12.2 s    (quadratic: ~25 s expected)
#
# and, on the demo fleet (4 series x 600 points): LSTMAD (window 12, hidden 32) 3.1 s for
# 2 epochs, AnomalyTransformer (window 24, d_model 32) 2.4 s for 2 epochs, MatrixProfile
# (window 36) 1.4 s, SpectralResidual 1.2 s (most of it numpy's first FFT), TimeSeriesOD
# (IForest, window 12) 0.5 s. PyOD's own defaults are much slower: KShape's max_iter=100 did
# not finish 5k points in 300 s, which is why the catalogue defaults to 20 iterations.
_SERIES_PER_POINT = {"sand": 3.0e-3 / 50}  # seconds per point x window point
# seconds per point^2 x window point (KShape's distances to every subsequence) and per
# point^2 (MatrixProfile's STOMP: 5k points took 2 s in DEPENDENCIES.md)
_SERIES_QUADRATIC = {"kshape": 1.55e-6 / 50, "matrixprofile": 8e-8}
_TORCH_PER_POINT_EPOCH = {"lstmad": 6.5e-4 / 12, "anomalytransformer": 5e-4 / 24}
# Above this many points in one series the guard refuses the run outright (the estimate
# is then hours, and PyOD keeps every window in memory): split the series or sample it.
SERIES_MAX_POINTS = {"sand": 50_000, "kshape": 20_000, "matrixprofile": 200_000}


def series_refusal(key: str, points: int) -> str | None:
    """Why a series of ``points`` is too long for ``key`` (None when it is not)."""
    from .catalogue import get_detector

    limit = SERIES_MAX_POINTS.get(key)
    if limit is None or points <= limit:
        return None
    return (
        f"{get_detector(key).short_name} refuses series over {limit:,} points (the longest has {points:,}): "
        "use an id column to split the data, or choose SpectralResidual or TimeSeriesOD"
    )


def estimate_series(
    *, key: str, rows: int, series: int, channels: int, params: dict[str, Any]
) -> CostEstimate:
    """Estimate a time-series run: ``rows`` points in ``series`` series of ``channels``
    value columns, detector ``key`` with its full ``params``."""
    from .catalogue import get_detector

    spec = get_detector(key)
    per_series = max(rows // max(series, 1), 1)
    window = int(params.get("window_size") or params.get("score_window") or 1)
    if key in _SERIES_PER_POINT:
        one = _SERIES_PER_POINT[key] * per_series * window * channels
    elif key in _SERIES_QUADRATIC:
        scale = window if key == "kshape" else 1
        one = _SERIES_QUADRATIC[key] * per_series**2 * scale * channels
    elif key in _TORCH_PER_POINT_EPOCH:
        one = _TORCH_PER_POINT_EPOCH[key] * per_series * int(params.get("epochs") or 1) * window
    elif "base" in params:
        base = get_detector(str(params["base"]))
        columns = (window + 3) * channels
        one = _detector_seconds(base.complexity_class, per_series, per_series, columns)
    else:
        one = _detector_seconds("nlogn", per_series, per_series, channels)
    seconds = _OVERHEAD_SECONDS + one * max(series, 1)
    memory = _BASE_MEMORY + rows * max(channels, 1) * 8 * _COPIES
    if key in _SERIES_PER_POINT or key == "kshape" or "base" in params:
        memory += per_series * window * channels * 8 * 2  # PyOD's window matrix
    warnings = []
    if seconds > SLOW_SECONDS / 5:
        warnings.append(
            f"{spec.short_name} on {series:,} series of ~{per_series:,} points may take "
            f"{human_seconds(seconds)}."
        )
    return CostEstimate(
        seconds=seconds,
        memory_bytes=int(memory),
        fit_rows=rows,
        warnings=warnings,
        suggested_detectors=("spectralresidual", "timeseriesod") if warnings else (),
        detectors=((spec.short_name, spec.complexity_class),),
    )
