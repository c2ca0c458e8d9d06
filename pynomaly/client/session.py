"""The :class:`Client`: one server, one token, and the HTTP transport every call uses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import requests

from pynomaly import __version__

from .alerts import AlertRules, Alerts, Channels
from .comparisons import Comparisons
from .endpoints import Datasets, DetectorConfigs, Detectors, Models, Runs
from .errors import AuthError, ConnectionFailed, error_from_response
from .monitors import Monitors
from .objects import Me, Tenant
from .sources import Sources
from .streams import Streams
from .verdicts import Verdicts

API_PREFIX = "/api/v1"


class Client:
    """A session with one server and one token (one user in one workspace).

    Parameters
    ----------
    url : str
        Server root, e.g. ``https://pynomaly.example.com`` (``/api/v1`` is added).
    token : str
        An API token (``pyn_...``) from the server's token page.
    timeout : float
        Seconds to wait for the server on each request (uploads: between chunks).
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith(API_PREFIX):
            self.url = self.url[: -len(API_PREFIX)]
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"pynomaly-sdk/{__version__}",
        })  # fmt: skip
        self.datasets = Datasets(self)
        self.detectors = Detectors(self)
        self.detector_configs = DetectorConfigs(self)
        self.runs = Runs(self)
        self.models = Models(self)
        self.monitors = Monitors(self)
        self.alerts = Alerts(self)
        self.alert_rules = AlertRules(self)
        self.channels = Channels(self)
        self.sources = Sources(self)
        self.streams = Streams(self)
        self.verdicts = Verdicts(self)
        self.comparisons = Comparisons(self)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Client:
        """The client ``pynomaly login`` saved (see :mod:`pynomaly.config`)."""
        from pynomaly.config import load_login

        login = load_login(path)
        if login is None:
            raise AuthError(401, "Not logged in", "not logged in: run `pynomaly login URL` first")
        return cls(login["url"], login["token"], **kwargs)

    # -- transport -------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json_body: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                stream: bool = False, timeout: float | tuple[float, float] | None = None,
                ) -> requests.Response:  # fmt: skip
        """Send one request; raise the matching :class:`ApiError` unless it succeeded."""
        if json_body is not None:
            data = json.dumps(json_body, default=_json_default, allow_nan=False)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        if params:
            params = {k: _query_value(v) for k, v in params.items() if v is not None}
        try:
            response = self.session.request(
                method, f"{self.url}{API_PREFIX}{path}", params=params, data=data,
                headers=headers, stream=stream, timeout=timeout or self.timeout,
            )  # fmt: skip
        except requests.ConnectionError as exc:
            raise ConnectionFailed(
                0, "Connection failed", f"cannot reach {self.url}: {_reason(exc)}"
            ) from None
        except requests.Timeout:
            raise ConnectionFailed(
                0, "Timed out", f"{self.url} did not answer within {timeout or self.timeout:g} s"
            ) from None
        if response.status_code >= 400:
            try:
                raise error_from_response(response)
            finally:
                response.close()
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def pages(
        self, path: str, *, limit: int | None = None, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged list, following ``next_cursor`` to the end."""
        cursor = None
        while True:
            page = self.get_json(path, limit=limit, cursor=cursor, **params)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # -- me --------------------------------------------------------------------------

    def me(self) -> Me:
        return Me.from_json(self.get_json("/me"))

    def tenants(self) -> list[Tenant]:
        body = self.get_json("/tenants")
        items = body.get("items", []) if isinstance(body, dict) else body
        return [Tenant.from_json(t) for t in items]


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return text[:200]
