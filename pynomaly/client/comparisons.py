"""``client.comparisons``: two runs judged with statistics, leaderboards and bake-offs.

>>> c = api.comparisons.compare(17, 18)
>>> c.sentence
'B (#18) is better than A (#17) on ROC-AUC (0.91 vs 0.84, p = 0.003).'
>>> runs = api.comparisons.bakeoff(4, detectors=["iforest", "knn", "ecod"], label_column="y")
>>> board = api.comparisons.leaderboard(4, wait=True)   # once every run has finished
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .endpoints import _Section
from .objects import Run, _Resource


@dataclass
class Comparison(_Resource):
    """``GET /runs/compare``: intervals are ``{"value", "low", "high"}`` dicts."""

    a: int | None = None
    b: int | None = None
    labelled: bool | None = None
    truth_source: str | None = None
    sentence: str | None = None
    sentences: list[str] | None = None
    roc_auc: dict[str, Any] | None = None
    average_precision: dict[str, Any] | None = None
    rank_agreement: dict[str, Any] | None = None
    overlap: dict[str, Any] | None = None
    sampling: dict[str, Any] | None = None
    note: str | None = None


@dataclass
class Leaderboard(_Resource):
    """``GET /datasets/{id}/versions/{n}/leaderboard``: ``entries`` best first."""

    dataset_id: int | None = None
    number: int | None = None
    labelled: bool | None = None
    truth_source: str | None = None
    pending: int | None = None
    entries: list[dict[str, Any]] | None = None
    sampling: dict[str, Any] | None = None
    note: str | None = None


class Comparisons(_Section):
    def compare(self, a: int, b: int) -> Comparison:
        """Two finished runs on the same dataset version: which is better (with labels:
        ROC-AUC/AP intervals, DeLong and paired-bootstrap p-values) and how far they agree."""
        return Comparison.from_json(self.client.get_json("/runs/compare", a=int(a), b=int(b)))

    def latest_or(self, dataset_id: int, version: int | None) -> int:
        """``version``, or the number of the dataset's latest version."""
        if version is not None:
            return int(version)
        latest = self.client.datasets.get(dataset_id).latest_version
        number = latest.number if latest is not None else None
        if number is None:
            raise ValueError(f"dataset {dataset_id} has no version yet")
        return int(number)

    def leaderboard(self, dataset_id: int, version: int | None = None, *, wait: bool = False,
                    poll: float = 2.0, timeout: float | None = None) -> Leaderboard:  # fmt: skip
        """The version's (default: latest) succeeded runs ranked; ``wait`` until none is pending."""
        number = self.latest_or(dataset_id, version)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            board = Leaderboard.from_json(
                self.client.get_json(f"/datasets/{int(dataset_id)}/versions/{number}/leaderboard")
            )
            if not wait or not board.pending:
                return board
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{board.pending} run(s) still pending on dataset {dataset_id}")
            time.sleep(poll)

    def bakeoff(self, dataset_id: int, *, version: int | None = None,
                detector_config_ids: Sequence[int] = (), detectors: Sequence[str] = (),
                label_column: str | None = None, max_fit_rows: int | None = None,
                accept_cost: bool = False) -> list[Run]:  # fmt: skip
        """Start several detectors on one version together: configurations by id and/or
        detector keys (default parameters). All pass the start rules, or none starts."""
        number = self.latest_or(dataset_id, version)
        body: dict[str, Any] = {
            "detector_config_ids": [int(i) for i in detector_config_ids],
            "detectors": list(detectors),
            "label_column": label_column or "",
            "accept_cost": bool(accept_cost),
        }
        if max_fit_rows is not None:
            body["max_fit_rows"] = int(max_fit_rows)
        path = f"/datasets/{int(dataset_id)}/versions/{number}/bakeoff"
        response = self.client.request("POST", path, json_body=body).json()
        return [Run.from_json(r, self.client) for r in response.get("runs", [])]
