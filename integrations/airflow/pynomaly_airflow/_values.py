"""Templated arguments arrive as strings (``"{{ params.dataset_id }}"``) unless the DAG renders
native objects: ids are turned back into integers here, with a clear message when they are not."""

from __future__ import annotations

from typing import Any


def as_id(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer id, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer id, not {value!r}") from None
    if number < 0 or (number == 0 and name != "after_version"):
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return number


def run_result(run: Any) -> dict[str, Any]:
    """What the operator and the run sensor hand to XCom for a finished run."""
    summary = run.summary or {}
    return {
        "run_id": run.id,
        "status": run.status,
        "anomalies": int(summary.get("anomalies") or 0),
        "rows": run.rows_total,
        "threshold": run.threshold,
        "trained_model_id": run.trained_model_id,
        "dataset_version_id": run.dataset_version_id,
    }
