"""The sections of a :class:`~pynomaly.client.Client`: ``client.datasets``, ``.detectors``,
``.detector_configs``, ``.runs`` and ``.models``, one class each."""

from __future__ import annotations

import builtins
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .objects import (
    Dataset,
    DatasetVersion,
    Detector,
    DetectorConfig,
    MlflowState,
    Model,
    Run,
    ScoreResult,
)

if TYPE_CHECKING:
    from .session import Client

UPLOAD_CHUNK = 1 << 20
SCORE_BATCH = 1_000  # records per request; the server takes up to 10,000


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
    def start(self, *, detector_config_id: int | None = None, dataset_id: int | None = None,
              dataset_version_id: int | None = None, label_column: str | None = None,
              max_fit_rows: int | None = None, accept_cost: bool = False,
              detector: str | None = None, train_labels: str | None = None,
              time_series: dict[str, Any] | None = None,
              base_model_id: int | None = None,
              scoring_model_id: int | None = None) -> Run:  # fmt: skip
        """Start a run; ``detector="auto"`` instead of a configuration lets the server choose,
        ``train_labels`` names a column of partial labels (1 / 0 / empty) it learns from.
        ``time_series={"time_column": ..., "value_columns": [...], "id_column": ...,
        "window": ...}`` analyses the rows as time series (a time-series detector's config).
        ``base_model_id`` fine-tunes a deep detector (AutoEncoder, VAE) from that trained model
        of the same detector and columns; the run records it as its parent.
        ``scoring_model_id`` scores the dataset with that trained model instead of fitting
        (no detector then; a time-series model reads the series it was trained on)."""
        if (dataset_id is None) == (dataset_version_id is None):
            raise ValueError("give exactly one of dataset_id and dataset_version_id")
        chosen = [detector_config_id, detector, scoring_model_id]
        if sum(c is not None for c in chosen) != 1:
            raise ValueError(
                "give exactly one of detector_config_id, detector='auto' and scoring_model_id"
            )
        body: dict[str, Any] = {"detector_config_id": detector_config_id, "dataset_id": dataset_id,
                "dataset_version_id": dataset_version_id, "label_column": label_column or "",
                "max_fit_rows": max_fit_rows, "detector": detector,
                "train_labels": train_labels or None,
                "base_model_id": base_model_id,
                "scoring_model_id": scoring_model_id}  # fmt: skip
        if accept_cost:
            body["accept_cost"] = True
        if time_series is not None:
            body.update(analysis="timeseries", analysis_options=dict(time_series))
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

    def explanations(self, run_id: int, *, limit: int | None = None,
                     top: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Why rows were flagged: ``method``, ``importance`` (mean |attribution| per feature),
        ``segments`` (over-represented categorical values) and ``items``, one per explained
        row with its ``attributions`` (``top`` features each; all by default)."""
        params = {k: v for k, v in {"limit": limit, "top": top}.items() if v is not None}
        return dict(self.client.get_json(f"/runs/{int(run_id)}/explanations", **params))

    def row(self, run_id: int, row_id: int) -> dict[str, Any]:
        """One scored row: ``values``, ``score``, ``label`` and its ``explanation`` (or None)."""
        return dict(self.client.get_json(f"/runs/{int(run_id)}/rows/{int(row_id)}"))

    def download(
        self,
        run_id: int,
        path: str | os.PathLike[str],
        format: str | None = None,  # noqa: A002
        *,
        data: bool = False,
        only_anomalies: bool = False,
        progress: bool = True,
    ) -> Path:
        """Save all results as CSV or Parquet (from ``path``'s suffix unless ``format``).

        Columns: ``row_id``, the row's timestamp/id columns, ``score``, ``severity``,
        ``predicted_anomaly`` (the flag at the saved threshold), ``reasons`` (flagged rows),
        contributions; ``data=True`` adds every original column, ``only_anomalies=True``
        keeps the flagged rows alone.
        """
        path = Path(path)
        fmt = format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"format must be csv or parquet, not {fmt!r}")
        params = {"format": fmt}
        params.update(
            {k: "true" for k, on in (("data", data), ("only_anomalies", only_anomalies)) if on}
        )
        response = self.client.request("GET", f"/runs/{int(run_id)}/results/download",
                                       params=params, stream=True)  # fmt: skip
        return _save_stream(response, path, progress=progress)


def _save_stream(response: Any, path: Path, *, progress: bool) -> Path:
    """Write a streamed response to ``.NAME.part`` beside ``path``, then rename it into place."""
    from tqdm import tqdm

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

    def mlflow(self, model_id: int) -> MlflowState:
        """The model's MLflow state (``off`` when the server logs nothing to MLflow)."""
        return MlflowState.from_json(self.client.get_json(f"/models/{int(model_id)}/mlflow"))

    def register(self, model_id: int, name: str) -> MlflowState:
        """Register the model in MLflow's model registry as a new version of ``name``.

        :class:`~pynomaly.client.ApiError` (409) while the run is not logged to MLflow; 503 when
        the server cannot reach MLflow."""
        response = self.client.request(
            "POST", f"/models/{int(model_id)}/mlflow/register", json_body={"name": name}
        )
        return MlflowState.from_json(response.json())

    def export(self, model_id: int, path: str | os.PathLike[str], format: str = "onnx",  # noqa: A002
               *, progress: bool = False) -> Path:  # fmt: skip
        """Save the trained model as an ONNX file for ``pynomaly-edge``.

        The server refuses (409, :class:`~pynomaly.client.ApiError`) a pipeline it cannot
        export: an ensemble, a detector without a converter (the ONNX column of
        ``pynomaly detectors``), or ONNX scores that differ from the platform's.
        """
        if format != "onnx":
            raise ValueError(f"format must be onnx, not {format!r}")
        response = self.client.request("GET", f"/models/{int(model_id)}/export",
                                       params={"format": format}, stream=True)  # fmt: skip
        return _save_stream(response, Path(path), progress=progress)

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
