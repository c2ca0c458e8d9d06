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
    *, rows: int, columns: int, keys: Iterable[str], max_fit_rows: int | None = None
) -> CostEstimate:
    """:func:`estimate` for catalogue keys; keys the catalogue does not know are left out."""
    from .catalogue import get_detector
    from .errors import UnknownDetector

    detectors: list[tuple[str, str]] = []
    for key in keys:
        try:
            spec = get_detector(key)
        except UnknownDetector:
            continue
        detectors.append((spec.short_name, spec.complexity_class))
    return estimate(
        rows=rows, columns=max(int(columns), 1), detectors=detectors, max_fit_rows=max_fit_rows
    )
