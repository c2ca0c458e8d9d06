"""``client.monitors``: scheduled monitors and their executions (``/api/v1/monitors``)."""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .objects import _Resource

if TYPE_CHECKING:
    from .session import Client

EXECUTION_TERMINAL = frozenset({"succeeded", "failed", "skipped"})


@dataclass
class MonitorExecution(_Resource):
    id: int | None = None
    number: int | None = None
    status: str | None = None
    trigger: str | None = None
    retrained: bool | None = None
    rows: int | None = None
    anomalies: int | None = None
    max_severity: float | None = None
    flagged_share: float | None = None
    drift_detected: bool | None = None
    drift: dict[str, Any] | None = None
    error: str | None = None
    run_id: int | None = None
    dataset_version_id: int | None = None
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in EXECUTION_TERMINAL

    @property
    def drifted_features(self) -> list[str]:
        return list((self.drift or {}).get("drifted") or [])


@dataclass
class Monitor(_Resource):
    id: int | None = None
    name: str | None = None
    status: str | None = None
    dataset_id: int | None = None
    source_id: int | None = None
    detector_config_id: int | None = None
    threshold: float | None = None
    schedule: str | None = None
    interval_seconds: int | None = None
    cron: str | None = None
    retrain: str | None = None
    retrain_every: int | None = None
    model_id: int | None = None
    next_execution_at: str | None = None
    last_execution: dict[str, Any] | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)


class Monitors:
    def __init__(self, client: Client) -> None:
        self.client = client

    def _monitor(self, data: dict[str, Any]) -> Monitor:
        return Monitor.from_json(data, self.client)

    def list(self, *, limit: int | None = None) -> list[Monitor]:
        return [self._monitor(m) for m in self.client.pages("/monitors", limit=limit)]

    def get(self, monitor_id: int) -> Monitor:
        return self._monitor(self.client.get_json(f"/monitors/{int(monitor_id)}"))

    def create(self, name: str, *, detector_config_id: int, dataset_id: int | None = None,
               source_id: int | None = None, schedule: str = "interval",
               interval_seconds: int | None = None, cron: str = "",
               threshold: float | None = None, retrain: str = "manual",
               retrain_every: int | None = None) -> Monitor:  # fmt: skip
        """Watch a dataset (``dataset_id``) or a database source (``source_id``)."""
        body = {"name": name, "detector_config_id": detector_config_id, "dataset_id": dataset_id,
                "source_id": source_id, "schedule": schedule, "interval_seconds": interval_seconds,
                "cron": cron, "threshold": threshold, "retrain": retrain,
                "retrain_every": retrain_every}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return self._monitor(self.client.request("POST", "/monitors", json_body=body).json())

    def update(self, monitor_id: int, **changes: Any) -> Monitor:
        """Change some fields (the names of :meth:`create`'s arguments)."""
        response = self.client.request("PATCH", f"/monitors/{int(monitor_id)}", json_body=changes)
        return self._monitor(response.json())

    def delete(self, monitor_id: int) -> None:
        self.client.request("DELETE", f"/monitors/{int(monitor_id)}")

    def pause(self, monitor_id: int) -> Monitor:
        return self._monitor(
            self.client.request("POST", f"/monitors/{int(monitor_id)}/pause").json()
        )

    def resume(self, monitor_id: int) -> Monitor:
        return self._monitor(
            self.client.request("POST", f"/monitors/{int(monitor_id)}/resume").json()
        )

    def run(self, monitor_id: int, *, wait: bool = False, poll: float = 1.0,
            timeout: float | None = None) -> MonitorExecution:  # fmt: skip
        """Queue an execution now; with ``wait``, return it once it has finished."""
        response = self.client.request("POST", f"/monitors/{int(monitor_id)}/run")
        execution = MonitorExecution.from_json(response.json())
        return (
            self.wait(monitor_id, execution.number or 0, poll=poll, timeout=timeout)
            if wait
            else execution
        )

    def executions(
        self, monitor_id: int, *, limit: int | None = None
    ) -> builtins.list[MonitorExecution]:
        return [
            MonitorExecution.from_json(e)
            for e in self.client.pages(f"/monitors/{int(monitor_id)}/executions", limit=limit)
        ]

    def execution(self, monitor_id: int, number: int) -> MonitorExecution:
        return MonitorExecution.from_json(
            self.client.get_json(f"/monitors/{int(monitor_id)}/executions/{int(number)}")
        )

    def wait(self, monitor_id: int, number: int, *, poll: float = 1.0,
             timeout: float | None = None) -> MonitorExecution:  # fmt: skip
        """Poll an execution until it succeeded, failed or was skipped (TimeoutError after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution = self.execution(monitor_id, number)
            if execution.is_terminal:
                return execution
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"execution #{number} still {execution.status} after {timeout} s"
                )
            time.sleep(poll)
