"""What the SDK returns: plain dataclasses built from the server's JSON."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import IngestFailed, RateLimited, RunFailed

if TYPE_CHECKING:
    from .session import Client

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

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
    train_label_column: str | None = None
    selection: dict[str, Any] | None = None
    # deep detectors: {"epoch", "epochs", "loss", "eta_seconds"} while fitting
    progress_detail: dict[str, Any] | None = None
    device: str | None = None
    base_model_id: int | None = None
    scoring_model_id: int | None = None  # the trained model it scored with (no fit)
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
                detail = self.progress_detail or {}
                if self.stage == "fitting" and detail.get("epochs"):
                    loss = detail.get("loss")
                    bar.set_postfix_str(
                        f"epoch {detail.get('epoch')}/{detail['epochs']}"
                        + (f" loss {loss:.4f}" if loss is not None else ""),
                        refresh=False,
                    )
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

    def explanations(self, **kwargs: Any) -> dict[str, Any]:
        return _bound(self._client).runs.explanations(_known(self.id), **kwargs)


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
class MlflowState(_Resource):
    """A trained model's MLflow state: ``status`` off / pending / logged / failed."""

    status: str | None = None
    attempts: int | None = None
    error: str | None = None
    mlflow_run_id: str | None = None
    registered_name: str | None = None
    registered_version: str | None = None


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
