"""``client.sources``: database sources on the server (admins manage them)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .objects import DatasetVersion, _Resource

if TYPE_CHECKING:
    from .session import Client


@dataclass
class Source(_Resource):
    """A SQL database the server reads rows from; its password is write-only (``password_set``)."""

    id: int | None = None
    name: str | None = None
    kind: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password_set: bool | None = None
    query: str | None = None
    table: str | None = None
    columns: list[str] | None = None
    watermark_column: str | None = None
    watermark_value: str | None = None
    dataset_id: int | None = None
    last_pull_at: str | None = None
    last_pull_rows: int | None = None
    last_error: str | None = None
    pulling: bool | None = None


@dataclass
class SourceTest(_Resource):
    ok: bool | None = None
    server: str | None = None
    columns: list[str] | None = None
    message: str | None = None


@dataclass
class SourcePreview(_Resource):
    server: str | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows or [], columns=self.columns or [])


class Sources:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self, *, limit: int | None = None) -> builtins.list[Source]:
        return [Source.from_json(s) for s in self.client.pages("/sources", limit=limit)]

    def get(self, source_id: int) -> Source:
        return Source.from_json(self.client.get_json(f"/sources/{int(source_id)}"))

    def create(self, name: str, *, url: str | None = None, **fields: Any) -> Source:
        """Register a source: ``url`` (postgresql://user:pass@host/db) or kind/host/port/... fields,
        plus ``query`` or ``table`` (+ ``columns``), optionally ``watermark_column`` and limits."""
        body = {"name": name, **({"url": url} if url else {}), **fields}
        return Source.from_json(self.client.request("POST", "/sources", json_body=body).json())

    def update(self, source_id: int, **fields: Any) -> Source:
        """Change fields; an omitted password keeps the stored one (``clear_password=True`` removes it)."""
        response = self.client.request("PATCH", f"/sources/{int(source_id)}", json_body=fields)
        return Source.from_json(response.json())

    def delete(self, source_id: int) -> None:
        self.client.request("DELETE", f"/sources/{int(source_id)}")

    def test(self, source_id: int) -> SourceTest:
        """Connect and check the read; raises :class:`ValidationError` with the reason when it fails."""
        return SourceTest.from_json(
            self.client.request("POST", f"/sources/{int(source_id)}/test").json()
        )

    def preview(self, source_id: int, rows: int = 20) -> SourcePreview:
        response = self.client.request(
            "POST", f"/sources/{int(source_id)}/preview", params={"rows": rows}
        )
        return SourcePreview.from_json(response.json())

    def pull(self, source_id: int, *, wait: bool = True) -> DatasetVersion | None:
        """Pull new rows; with ``wait`` (default) the new version, or None when nothing was new.

        ``wait=False`` queues the pull on the server's workers and returns None at once.
        """
        response = self.client.request(
            "POST", f"/sources/{int(source_id)}/pull", params={"wait": wait},
            timeout=(self.client.timeout, max(self.client.timeout, 600)),
        )  # fmt: skip
        version = response.json().get("version")
        return DatasetVersion.from_json(version) if version else None
