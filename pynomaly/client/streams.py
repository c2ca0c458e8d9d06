"""``client.streams``: streams on the server (admins manage them), their anomalies, and HTTP push.

Pushing records takes the stream's push token (``pys_…``, shown once when an HTTP push stream
is created or its token rotated), not the client's API token: a device that only pushes
needs no account. :meth:`Streams.tail` follows new anomalies by polling the ``since`` cursor.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .objects import _Resource

if TYPE_CHECKING:
    from .session import Client

PUSH_BATCH = 5000  # records per request (the server's default limit is 50,000 and 8 MiB)


@dataclass
class Stream(_Resource):
    """A stream; ``push_token`` is set only in the answer that created or rotated it."""

    id: int | None = None
    name: str | None = None
    kind: str | None = None
    address: str | None = None
    config: dict[str, Any] | None = None
    password_set: bool | None = None
    learner: str | None = None
    model_id: int | None = None
    columns: list[str] | None = None
    threshold: float | None = None
    effective_threshold: float | None = None
    status: str | None = None
    stats: dict[str, Any] | None = None
    push_token: str | None = None


@dataclass
class StreamAnomaly(_Resource):
    id: int | None = None
    event_id: str | None = None
    event_time: str | None = None
    score: float | None = None
    severity: float | None = None
    reasons: list[dict[str, Any]] | None = None
    record: dict[str, Any] | None = None

    def line(self) -> str:
        """One line for a terminal: time, event, score, the top reasons."""
        why = "; ".join(f"{r.get('column')}={r.get('value')}" for r in self.reasons or [])
        return f"{self.event_time}  {self.event_id}  score={self.score:.4f}  {why}".rstrip()


@dataclass
class AnomalyPage(_Resource):
    items: list[StreamAnomaly] | None = None
    next_since: int | None = None
    next_before: int | None = None


class Streams:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self, *, limit: int | None = None) -> builtins.list[Stream]:
        return [Stream.from_json(s) for s in self.client.pages("/streams", limit=limit)]

    def get(self, stream_id: int) -> Stream:
        return Stream.from_json(self.client.get_json(f"/streams/{int(stream_id)}"))

    def create(self, name: str, kind: str, **fields: Any) -> Stream:
        """Create a stream: ``config`` (per kind), ``password``, and ``model_id`` or ``learner="hst"``
        with ``columns``. An HTTP push stream comes back with its ``push_token`` (shown once)."""
        body = {"name": name, "kind": kind, **fields}
        return Stream.from_json(self.client.request("POST", "/streams", json_body=body).json())

    def update(self, stream_id: int, **fields: Any) -> Stream:
        response = self.client.request("PATCH", f"/streams/{int(stream_id)}", json_body=fields)
        return Stream.from_json(response.json())

    def pause(self, stream_id: int) -> Stream:
        return Stream.from_json(
            self.client.request("POST", f"/streams/{int(stream_id)}/pause").json()
        )

    def resume(self, stream_id: int) -> Stream:
        return Stream.from_json(
            self.client.request("POST", f"/streams/{int(stream_id)}/resume").json()
        )

    def rotate_push_token(self, stream_id: int) -> str:
        response = self.client.request("POST", f"/streams/{int(stream_id)}/push-token")
        return str(response.json()["push_token"])

    def delete(self, stream_id: int) -> None:
        self.client.request("DELETE", f"/streams/{int(stream_id)}")

    def anomalies(self, stream_id: int, *, since: int | None = None, before: int | None = None,
                  limit: int | None = None) -> AnomalyPage:  # fmt: skip
        """The newest anomalies (oldest first), or those after ``since`` / before ``before``."""
        data = self.client.get_json(
            f"/streams/{int(stream_id)}/anomalies", since=since, before=before, limit=limit
        )
        return AnomalyPage(
            items=[StreamAnomaly.from_json(a) for a in data["items"]],
            next_since=data["next_since"], next_before=data.get("next_before"), raw=data,
        )  # fmt: skip

    def tail(self, stream_id: int, *, since: int | None = None, interval: float = 1.0,
             backlog: int = 10) -> Iterator[StreamAnomaly]:  # fmt: skip
        """Every new anomaly as it is stored, for ever (stop with Ctrl-C or by breaking out).

        Starts with the last ``backlog`` anomalies unless ``since`` is given; then polls every
        ``interval`` seconds for what came after the last one seen.
        """
        if since is None:
            first = self.anomalies(stream_id, limit=backlog) if backlog else None
            if first is not None:
                yield from first.items or []
                since = first.next_since
            else:
                since = self.anomalies(stream_id, limit=1).next_since
        while True:
            page = self.anomalies(stream_id, since=since, limit=500)
            yield from page.items or []
            if page.items:
                since = page.next_since
                continue  # more may be waiting: ask again at once
            time.sleep(interval)

    def push(self, stream_id: int, records: Iterable[dict[str, Any]], *, token: str,
             batch: int = PUSH_BATCH) -> int:  # fmt: skip
        """Push records to an HTTP push stream with its push token; the number accepted.

        Sent in batches of ``batch`` records (NDJSON); a refused batch raises the API error
        (earlier batches stay accepted).
        """
        accepted, chunk = 0, []
        for record in records:
            chunk.append(record)
            if len(chunk) >= batch:
                accepted += self._push(stream_id, chunk, token)
                chunk = []
        if chunk:
            accepted += self._push(stream_id, chunk, token)
        return accepted

    def _push(self, stream_id: int, records: builtins.list[dict[str, Any]], token: str) -> int:
        body = "\n".join(json.dumps(r, allow_nan=False) for r in records).encode()
        response = self.client.request(
            "POST", f"/streams/{int(stream_id)}/events", data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        return int(response.json()["accepted"])
