"""``client.verdicts``: analysts' verdicts on rows (list, mark, clear, export), retrain with
feedback, the threshold learned from verdicts."""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .objects import Run, _Resource

if TYPE_CHECKING:
    import os

    from .session import Client

KINDS = ("anomaly", "normal", "unsure")


@dataclass
class Verdict(_Resource):
    id: int | None = None
    row: int | None = None
    verdict: str | None = None
    label: int | None = None
    note: str | None = None
    dataset_version_id: int | None = None
    run_id: int | None = None
    uuid: str | None = None
    made_at: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    applied: bool | None = None
    duplicate: bool | None = None


def _base(run_id: int | None, dataset_version_id: int | None) -> str:
    if (run_id is None) == (dataset_version_id is None):
        raise ValueError("give exactly one of run_id and dataset_version_id")
    if run_id is not None:
        return f"/runs/{int(run_id)}/verdicts"
    return f"/dataset-versions/{int(dataset_version_id)}/verdicts"  # type: ignore[arg-type]


class Verdicts:
    def __init__(self, client: Client) -> None:
        self.client = client

    def iter(self, *, run_id: int | None = None, dataset_version_id: int | None = None,
             verdict: str | None = None, page_size: int = 500) -> Iterator[Verdict]:  # fmt: skip
        for v in self.client.pages(_base(run_id, dataset_version_id), limit=page_size,
                                   verdict=verdict):  # fmt: skip
            yield Verdict.from_json(v)

    def list(self, *, run_id: int | None = None, dataset_version_id: int | None = None,
             verdict: str | None = None) -> list[Verdict]:  # fmt: skip
        """Every verdict on the run's (or the version's) rows, newest first."""
        return list(
            self.iter(run_id=run_id, dataset_version_id=dataset_version_id, verdict=verdict)
        )

    def add(self, row: int, verdict: str, *, run_id: int | None = None,
            dataset_version_id: int | None = None, note: str = "", uuid: str | None = None,
            made_at: datetime | None = None) -> Verdict:  # fmt: skip
        """Mark ``row`` anomaly / normal / unsure; resending the same ``uuid`` changes nothing."""
        if verdict not in KINDS:
            raise ValueError(f"verdict must be one of {', '.join(KINDS)}, not {verdict!r}")
        body: dict[str, Any] = {"row": int(row), "verdict": verdict, "note": note,
                                "uuid": uuid or str(uuid_lib.uuid4())}  # fmt: skip
        if made_at is not None:
            body["made_at"] = made_at
        response = self.client.request("POST", _base(run_id, dataset_version_id), json_body=body)
        return Verdict.from_json(response.json())

    def delete(self, row: int, *, run_id: int | None = None,
               dataset_version_id: int | None = None) -> None:  # fmt: skip
        """Clear the verdict on ``row``."""
        self.client.request("DELETE", f"{_base(run_id, dataset_version_id)}/{int(row)}")

    def export(self, run_id: int, path: str | os.PathLike[str] | None = None,
               format: str | None = None) -> Any:  # noqa: A002  # fmt: skip
        """The verdicts with labels and held-out flags: saved to ``path`` (CSV or JSON by its
        suffix), or returned as a list of dicts without one."""
        target = Path(path) if path is not None else None
        fmt = format or (
            "csv" if target is not None and target.suffix.lower() == ".csv" else "json"
        )
        if fmt not in ("csv", "json"):
            raise ValueError(f"format must be csv or json, not {fmt!r}")
        response = self.client.request(
            "GET", f"/runs/{int(run_id)}/verdicts/export", params={"format": fmt}
        )
        if target is None:
            return response.json()["verdicts"] if fmt == "json" else response.text
        target.write_bytes(response.content)
        return target

    def summary(self, run_id: int) -> dict[str, Any]:
        """Counts, the run's metrics against the verdicts and, for a retrain, the comparison
        with its parent on the held-out verdicts."""
        summary: dict[str, Any] = self.client.get_json(f"/runs/{int(run_id)}/verdicts/summary")
        return summary

    def retrain(self, run_id: int) -> Run:
        """Start a run like ``run_id`` that trains with the verdicts (its parent is ``run_id``)."""
        response = self.client.request("POST", f"/runs/{int(run_id)}/retrain")
        return Run.from_json(response.json(), self.client)

    def learn_threshold(self, run_id: int) -> dict[str, Any]:
        """Save the threshold that maximises F1 on the verdicts; returns it with F1, precision, recall."""
        body: dict[str, Any] = self.client.request(
            "POST", f"/runs/{int(run_id)}/threshold/from-verdicts"
        ).json()
        return body
