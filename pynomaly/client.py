"""Python SDK for a Pynomaly server's REST API (``/api/v1``).

>>> from pynomaly.client import Client
>>> api = Client("https://pynomaly.example.com", "pyn_...")
>>> ds = api.datasets.upload("payments.parquet").wait()
>>> run = api.runs.start(dataset_id=ds.id, detector_config_id=3).wait()
>>> frame = api.runs.results(run.id)               # every scored row, as a DataFrame
>>> api.models.score(run.trained_model_id, [{"amount": 12.5, "country": "FR"}])

Every call raises an :class:`ApiError` subclass carrying the server's ``detail`` when
the server refuses; long jobs raise :class:`RunFailed` / :class:`IngestFailed`. This
module needs ``requests`` and ``tqdm`` only: no Django, no detector libraries (pandas is
imported when a DataFrame is asked for).
"""

from __future__ import annotations

import builtins
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from pynomaly import __version__

API_PREFIX = "/api/v1"
UPLOAD_CHUNK = 1 << 20
SCORE_BATCH = 1_000  # records per request; the server takes up to 10,000
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

__all__ = [
    "ApiError", "AuthError", "PermissionDenied", "NotFound", "ValidationError", "RateLimited",
    "ServerError", "ConnectionFailed", "RunFailed", "IngestFailed", "Client", "Me", "Tenant",
    "Dataset", "DatasetVersion", "Detector", "DetectorConfig", "Run", "Model", "ScoreResult",
]  # fmt: skip


# ------------------------------------------------------------------------------ errors


class ApiError(Exception):
    """The server refused or failed a request; ``str(err)`` is the server's detail.

    Attributes
    ----------
    status : int
        HTTP status (0 when no response arrived).
    title, detail : str
        From the ``application/problem+json`` body.
    errors : list of dict
        Field errors ``{"loc": [...], "msg": ...}`` when the server sent them.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: Iterable[dict[str, Any]] | None = None,
        type: str = "",  # noqa: A002
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail or title
        self.errors = list(errors or [])
        self.type = type
        super().__init__(self.detail)


class AuthError(ApiError):
    """401: the token is missing, wrong, expired or revoked."""


class PermissionDenied(ApiError):
    """403: the token's role or scope does not allow this."""


class NotFound(ApiError):
    """404: no such object in the token's workspace."""


class ValidationError(ApiError):
    """400 / 422: the request was understood but its content is refused."""


class RateLimited(ApiError):
    """429: too many requests; wait ``retry_after`` seconds."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; retrying later may work."""


class ConnectionFailed(ApiError):
    """No HTTP response: the server is unreachable or the connection broke."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError, 401: AuthError, 403: PermissionDenied, 404: NotFound,
    422: ValidationError, 429: RateLimited,
}  # fmt: skip


class JobFailed(Exception):
    """A background job on the server ended without success."""


class RunFailed(JobFailed):
    """The run ended ``failed`` or ``cancelled``; ``run`` holds its final state."""

    def __init__(self, run: Run) -> None:
        self.run = run
        reason = run.error or ("cancelled" if run.status == "cancelled" else "no reason given")
        super().__init__(f"run {run.id} {run.status}: {reason}")


class IngestFailed(JobFailed):
    """The dataset could not be ingested; ``dataset`` holds its final state."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        super().__init__(f"dataset {dataset.id} failed: {dataset.error or 'no reason given'}")


def error_from_response(response: requests.Response) -> ApiError:
    """The :class:`ApiError` subclass for a non-2xx response (problem+json or not)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    if isinstance(body, dict):
        title = str(body.get("title") or response.reason or f"HTTP {status}")
        detail = body.get("detail")
        if not isinstance(detail, str):  # ninja's default {"detail": [...]} shape
            detail = json.dumps(detail) if detail is not None else title
        errors, kind = body.get("errors") or [], str(body.get("type") or "")
    else:
        title = response.reason or f"HTTP {status}"
        text = (response.text or "").strip()
        detail = f"{title} (HTTP {status})" + (
            f": {text[:200]}" if text and "<" not in text else ""
        )
        errors, kind = [], ""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    if cls is RateLimited:
        return RateLimited(status, title, detail, errors, kind,
                           retry_after=_retry_after(response.headers.get("Retry-After")))  # fmt: skip
    return cls(status, title, detail, errors, kind)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# ----------------------------------------------------------------------- data objects

T = TypeVar("T", bound="_Resource")


@dataclass
class _Resource:
    """Fields from the JSON; unknown ones are kept in ``raw`` (servers add fields)."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any], client: Client | None = None) -> T:
        names = {f.name for f in fields(cls)} - {"raw", "_client"}
        obj = cls(**{k: data.get(k) for k in names}, raw=dict(data))
        if "_client" in {f.name for f in fields(cls)}:
            obj._client = client  # type: ignore[attr-defined]  # declared by the subclass
        return obj


@dataclass
class Tenant(_Resource):
    slug: str | None = None
    name: str | None = None
    role: str | None = None


@dataclass
class Me(_Resource):
    id: int | None = None
    email: str | None = None
    tenant: dict[str, Any] | None = None
    role: str | None = None
    scope: str | None = None


@dataclass
class DatasetVersion(_Resource):
    id: int | None = None
    number: int | None = None
    rows: int | None = None
    columns: int | None = None
    schema: list[Any] | None = None
    time_column: str | None = None
    sha256: str | None = None
    size: int | None = None
    original_name: str | None = None
    format: str | None = None
    created_at: str | None = None


@dataclass
class Dataset(_Resource):
    id: int | None = None
    name: str | None = None
    status: str | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    latest_version: DatasetVersion | None = None
    uploads: list[Any] | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], client: Client | None = None) -> Dataset:
        obj = super().from_json(data, client)
        if isinstance(obj.latest_version, dict):
            obj.latest_version = DatasetVersion.from_json(obj.latest_version)
        return obj

    def refresh(self) -> Dataset:
        fresh = _bound(self._client).datasets.get(_known(self.id))
        self.__dict__.update({k: v for k, v in fresh.__dict__.items()})
        return self

    def wait(self, poll: float = 1.0, timeout: float | None = None) -> Dataset:
        """Poll until ingestion finishes; raise :class:`IngestFailed` if it failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            _polite(lambda: self.refresh())
            if self.status == "failed":
                raise IngestFailed(self)
            if self.status != "ingesting":
                return self
            _sleep_or_timeout(poll, deadline, f"dataset {self.id} is still ingesting")


@dataclass
class Detector(_Resource):
    key: str | None = None
    name: str | None = None
    family: str | None = None
    available: bool | None = None


@dataclass
class DetectorConfig(_Resource):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    version: int | None = None
    pipeline: dict[str, Any] | None = None
    versions: list[Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass
class Run(_Resource):
    id: int | None = None
    status: str | None = None
    stage: str | None = None
    percent: float | None = None
    rows_done: int | None = None
    rows_total: int | None = None
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    error: str | None = None
    threshold: float | None = None
    summary: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    dataset_id: int | None = None
    dataset_version_id: int | None = None
    detector_config_id: int | None = None
    detector_version_id: int | None = None
    label_column: str | None = None
    max_fit_rows: int | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    trained_model_id: int | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def refresh(self) -> Run:
        fresh = _bound(self._client).runs.get(_known(self.id))
        self.__dict__.update({k: v for k, v in fresh.__dict__.items()})
        return self

    def wait(self, poll: float = 1.0, timeout: float | None = None, progress: bool = True) -> Run:
        """Follow the run until it ends; a tqdm bar shows percent, with the stage as label.

        Raises
        ------
        RunFailed
            The run ended ``failed`` or ``cancelled``.
        TimeoutError
            ``timeout`` seconds passed first (the run goes on on the server).
        """
        from tqdm import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, desc=f"run {self.id}", unit="%", file=sys.stderr, disable=not progress,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")  # fmt: skip
        try:
            while True:
                _polite(lambda: self.refresh())
                bar.set_description(f"run {self.id} {self.stage or self.status}", refresh=False)
                bar.update(max(0.0, min(100.0, float(self.percent or 0))) - bar.n)
                if self.is_terminal:
                    break
                _sleep_or_timeout(poll, deadline, f"run {self.id} is still {self.status}")
        finally:
            bar.close()
        if self.status != "succeeded":
            raise RunFailed(self)
        return self

    def results(self, **kwargs: Any) -> Any:
        return _bound(self._client).runs.results(_known(self.id), **kwargs)


@dataclass
class Model(_Resource):
    id: int | None = None
    run_id: int | None = None
    detector_config_id: int | None = None
    detector_version: int | None = None
    feature_names: list[Any] | None = None
    input_columns: list[Any] | None = None
    threshold: float | None = None
    created_at: str | None = None


@dataclass
class ScoreResult(_Resource):
    scores: list[Any] | None = None
    labels: list[Any] | None = None
    severity: list[Any] | None = None
    threshold: float | None = None


def _bound(client: Client | None) -> Client:
    if client is None:
        raise RuntimeError("this object was not fetched through a Client")
    return client


def _known(object_id: int | None) -> int:
    if object_id is None:
        raise RuntimeError("this object has no id: it was not fetched from the server")
    return object_id


def _polite(call: Callable[[], object]) -> None:
    """Call; on 429 wait the server's Retry-After once and call again."""
    try:
        call()
    except RateLimited as exc:
        time.sleep(exc.retry_after if exc.retry_after is not None else 1.0)
        call()


def _sleep_or_timeout(poll: float, deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() + poll > deadline:
        raise TimeoutError(what)
    time.sleep(poll)


# ------------------------------------------------------------------------ the client


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


class _Section:
    def __init__(self, client: Client) -> None:
        self.client = client


class Datasets(_Section):
    def list(self, *, limit: int | None = None) -> list[Dataset]:
        return [
            Dataset.from_json(d, self.client) for d in self.client.pages("/datasets", limit=limit)
        ]

    def get(self, dataset_id: int) -> Dataset:
        return Dataset.from_json(self.client.get_json(f"/datasets/{int(dataset_id)}"), self.client)

    def versions(self, dataset_id: int) -> builtins.list[DatasetVersion]:
        body = self.client.get_json(f"/datasets/{int(dataset_id)}/versions")
        return [DatasetVersion.from_json(v) for v in body.get("items", [])]

    def profile(self, dataset_id: int, version: int | None = None) -> dict[str, Any]:
        profile: dict[str, Any] = self.client.get_json(
            f"/datasets/{int(dataset_id)}/profile", version=version
        )
        return profile

    def delete(self, dataset_id: int) -> None:
        self.client.request("DELETE", f"/datasets/{int(dataset_id)}")

    def upload(self, path: str | os.PathLike[str], name: str | None = None, *, progress: bool = True,
               wait: bool = False, poll: float = 1.0) -> Dataset:  # fmt: skip
        """Stream a file to the server (PUT /datasets/stream) with a progress bar.

        The body is sent in 1 MiB pieces with its Content-Length, so the server can
        refuse an oversize file before it arrives and memory stays flat here.
        """
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not a file")
        params = {"name": name or path.stem, "filename": path.name}
        body = _FileBody(path, size, progress)
        try:
            response = self.client.request(
                "PUT", "/datasets/stream", params=params, data=body,
                headers={"Content-Type": "application/octet-stream"},
                timeout=(self.client.timeout, max(self.client.timeout, 300)),
            )  # fmt: skip
        finally:
            body.close()
        dataset = Dataset.from_json(response.json(), self.client)
        return dataset.wait(poll=poll) if wait else dataset


class _FileBody:
    """An iterable request body with a length, reporting progress to tqdm."""

    def __init__(self, path: Path, size: int, progress: bool) -> None:
        from tqdm import tqdm

        self.path, self.size = path, size
        self.bar = tqdm(total=size, desc=f"upload {path.name}", unit="B", unit_scale=True,
                        unit_divisor=1024, file=sys.stderr, disable=not progress)  # fmt: skip

    def __len__(self) -> int:  # requests sends Content-Length instead of chunked
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            while chunk := fh.read(UPLOAD_CHUNK):
                self.bar.update(len(chunk))
                yield chunk

    def close(self) -> None:
        self.bar.close()


class Detectors(_Section):
    def list(self, *, family: str | None = None, available: bool | None = None,
             q: str | None = None) -> list[Detector]:  # fmt: skip
        body = self.client.get_json("/detectors", family=family, available=available, q=q)
        items = body.get("items", []) if isinstance(body, dict) else body
        return [Detector.from_json(d) for d in items]

    def get(self, key: str) -> Detector:
        return Detector.from_json(self.client.get_json(f"/detectors/{quote(key, safe='')}"))


class DetectorConfigs(_Section):
    def list(self, *, limit: int | None = None) -> list[DetectorConfig]:
        return [
            DetectorConfig.from_json(c) for c in self.client.pages("/detector-configs", limit=limit)
        ]

    def get(self, config_id: int) -> DetectorConfig:
        return DetectorConfig.from_json(self.client.get_json(f"/detector-configs/{int(config_id)}"))

    def create(
        self, name: str, pipeline: dict[str, Any], *, description: str = ""
    ) -> DetectorConfig:
        """``pipeline``: ``{"detectors": [{"key": "iforest", "params": {}}], "threshold": ...}``."""
        body = {"name": name, "description": description, "pipeline": pipeline}
        return DetectorConfig.from_json(
            self.client.request("POST", "/detector-configs", json_body=body).json()
        )

    def update(self, config_id: int, *, name: str | None = None, description: str | None = None,
               pipeline: dict[str, Any] | None = None) -> DetectorConfig:  # fmt: skip
        body = {k: v for k, v in (("name", name), ("description", description), ("pipeline", pipeline))
                if v is not None}  # fmt: skip
        response = self.client.request(
            "PATCH", f"/detector-configs/{int(config_id)}", json_body=body
        )
        return DetectorConfig.from_json(response.json())

    def delete(self, config_id: int) -> None:
        self.client.request("DELETE", f"/detector-configs/{int(config_id)}")


class Runs(_Section):
    def start(self, *, detector_config_id: int, dataset_id: int | None = None,
              dataset_version_id: int | None = None, label_column: str | None = None,
              max_fit_rows: int | None = None, accept_cost: bool = False) -> Run:  # fmt: skip
        if (dataset_id is None) == (dataset_version_id is None):
            raise ValueError("give exactly one of dataset_id and dataset_version_id")
        body = {"detector_config_id": detector_config_id, "dataset_id": dataset_id,
                "dataset_version_id": dataset_version_id, "label_column": label_column or "",
                "max_fit_rows": max_fit_rows}  # fmt: skip
        if accept_cost:
            body["accept_cost"] = True
        body = {k: v for k, v in body.items() if v is not None}
        return Run.from_json(
            self.client.request("POST", "/runs", json_body=body).json(), self.client
        )

    def list(self, *, status: str | None = None, dataset_id: int | None = None,
             limit: int | None = None) -> list[Run]:  # fmt: skip
        items = self.client.pages("/runs", limit=limit, status=status, dataset_id=dataset_id)
        return [Run.from_json(r, self.client) for r in items]

    def get(self, run_id: int) -> Run:
        return Run.from_json(self.client.get_json(f"/runs/{int(run_id)}"), self.client)

    def cancel(self, run_id: int) -> Run:
        return Run.from_json(
            self.client.request("POST", f"/runs/{int(run_id)}/cancel").json(), self.client
        )

    def iter_results(self, run_id: int, *, only_anomalies: bool = False, order: str | None = None,
                     page_size: int = 500) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Result rows ``{row_id, score, label, severity}``, page after page."""
        return self.client.pages(f"/runs/{int(run_id)}/results", limit=page_size,
                                 only_anomalies=only_anomalies or None, order=order)  # fmt: skip

    def results(self, run_id: int, *, as_dataframe: bool = True, only_anomalies: bool = False,
                order: str | None = None, page_size: int = 500) -> Any:  # fmt: skip
        """Every result row (following cursors): a pandas DataFrame, or a list of dicts."""
        rows = list(self.iter_results(run_id, only_anomalies=only_anomalies, order=order,
                                      page_size=page_size))  # fmt: skip
        if not as_dataframe:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=["row_id", "score", "label", "severity"])

    def download(
        self,
        run_id: int,
        path: str | os.PathLike[str],
        format: str | None = None,  # noqa: A002
        *,
        progress: bool = True,
    ) -> Path:
        """Save all results as CSV or Parquet (from ``path``'s suffix unless ``format``)."""
        from tqdm import tqdm

        path = Path(path)
        fmt = format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"format must be csv or parquet, not {fmt!r}")
        response = self.client.request("GET", f"/runs/{int(run_id)}/results/download",
                                       params={"format": fmt}, stream=True)  # fmt: skip
        total = int(response.headers.get("Content-Length") or 0) or None
        tmp = path.with_name(f".{path.name}.part")
        bar = tqdm(total=total, desc=f"download {path.name}", unit="B", unit_scale=True,
                   unit_divisor=1024, file=sys.stderr, disable=not progress)  # fmt: skip
        try:
            with response, open(tmp, "wb") as out:
                for chunk in response.iter_content(UPLOAD_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            bar.close()
        return path


class Models(_Section):
    def list(self, *, limit: int | None = None) -> list[Model]:
        return [Model.from_json(m) for m in self.client.pages("/models", limit=limit)]

    def get(self, model_id: int) -> Model:
        return Model.from_json(self.client.get_json(f"/models/{int(model_id)}"))

    def score(self, model_id: int, records: Any, *, batch_size: int | None = None,
              progress: bool = False) -> ScoreResult:  # fmt: skip
        """Score records (list of dicts, or a DataFrame) with a trained model.

        ``batch_size`` splits a long list into several requests (the server takes up to
        10,000 records at once). Models with ECOD/COPOD score a record together with the
        others in its request, so its score can depend on the batch.
        """
        records = _records(records)
        size = batch_size or max(1, len(records))
        scores: builtins.list[Any] = []
        labels: builtins.list[Any] = []
        severity: builtins.list[Any] = []
        out = ScoreResult(scores=scores, labels=labels, severity=severity, threshold=None)
        from tqdm import tqdm

        with tqdm(total=len(records), desc=f"score with model {model_id}", unit="rec",
                  file=sys.stderr, disable=not progress) as bar:  # fmt: skip
            for start in range(0, max(1, len(records)), size):
                batch = records[start : start + size]
                body = self.client.request("POST", f"/models/{int(model_id)}/score",
                                           json_body={"records": batch}).json()  # fmt: skip
                scores.extend(body["scores"])
                labels.extend(body["labels"])
                severity.extend(body["severity"])
                out.threshold = body.get("threshold")
                out.raw = body
                bar.update(len(batch))
        return out


def _records(records: Any) -> list[dict[str, Any]]:
    if hasattr(records, "to_dict") and hasattr(records, "columns"):  # a DataFrame
        records = records.astype(object).where(records.notna(), None).to_dict("records")
    records = list(records) if not isinstance(records, list) else records
    clean = []
    for r in records:
        if not isinstance(r, dict):
            raise TypeError("each record must be a dict of column: value")
        # JSON has no NaN: send missing values as null
        clean.append(
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        )
    return clean


def iter_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Records from JSON Lines text; ``ValueError`` names the bad line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise ValueError(f"line {number} is not a JSON object")
        yield record
