"""Request and response shapes shared by the routers (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import BaseModel, Field, field_validator


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


class Problem(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------- me / tenants
class TenantRef(Schema):
    slug: str
    name: str


class MeOut(Schema):
    id: int
    email: str
    tenant: TenantRef
    role: str
    scope: str
    token_expires_at: datetime | None = None


class MembershipOut(Schema):
    slug: str
    name: str
    role: str


class TenantList(Schema):
    items: list[MembershipOut]


# ---------------------------------------------------------------- datasets
class UploadOut(Schema):
    id: int
    status: str
    error: str
    created_at: datetime


class VersionOut(Schema):
    id: int
    number: int
    rows: int
    columns: int
    schema_: list[dict[str, Any]] = Field(alias="schema")
    time_column: str
    sha256: str
    size: int
    original_name: str
    format: str
    kind: str = Field("table", description="table, or graph (rows are nodes; see graph)")
    graph: dict[str, Any] | None = Field(
        None, description="A graph's nodes, edges, id column and degree statistics"
    )
    created_at: datetime


class VersionList(Schema):
    items: list[VersionOut]


class DatasetOut(Schema):
    id: int
    name: str
    status: str
    error: str
    created_at: datetime
    updated_at: datetime
    latest_version: VersionOut | None
    uploads: list[UploadOut]


class DatasetPage(Schema):
    items: list[DatasetOut]
    next_cursor: str | None


# ---------------------------------------------------------------- detectors
class DetectorList(Schema):
    items: list[dict[str, Any]]


class DetectorIn(Schema):
    key: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class PrepareIn(Schema):
    scaling: Literal["standard", "robust", "none"] = "standard"
    encode_categoricals: bool = True
    impute: bool = True
    drop_constant: bool = True


class ThresholdIn(Schema):
    kind: Literal["contamination", "score", "top_k", "auto"] = "contamination"
    value: float | None = 0.1


class PipelineIn(Schema):
    detectors: list[DetectorIn] = Field(min_length=1, max_length=20)
    combine: Literal["average", "maximum", "aom", "moa"] = "average"
    prepare: PrepareIn | None = None
    threshold: ThresholdIn | None = None
    seed: int = Field(default=42, ge=0, le=2**32 - 1)


class ConfigIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    pipeline: PipelineIn

    _text = field_validator("name", "description")(_clean_text)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be blank")
        return value


class ConfigPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    pipeline: PipelineIn | None = None

    _text = field_validator("name", "description")(_clean_text)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be blank")
        return value


class ConfigVersionRef(Schema):
    number: int
    created_at: datetime


class ConfigOut(Schema):
    id: int
    name: str
    description: str
    version: int | None
    pipeline: dict[str, Any] | None
    versions: list[ConfigVersionRef]
    created_at: datetime
    updated_at: datetime


class ConfigPage(Schema):
    items: list[ConfigOut]
    next_cursor: str | None


# ---------------------------------------------------------------- runs
class TimeSeriesOptionsIn(Schema):
    time_column: str = Field(max_length=255)
    value_columns: list[str] = Field(
        default_factory=list, max_length=200, description="Empty: every numeric column."
    )
    id_column: str | None = Field(default=None, max_length=255, description="One series per id.")
    window: int | None = Field(default=None, ge=2, le=2000)


class RunIn(Schema):
    dataset_id: int | None = Field(default=None, ge=1, le=2**62)
    dataset_version_id: int | None = Field(default=None, ge=1, le=2**62)
    detector_config_id: int | None = Field(default=None, ge=1, le=2**62)
    detector: Literal["auto"] | None = Field(
        default=None,
        description="'auto' instead of detector_config_id: the workspace's Automatic "
        "configuration (created on first use) chooses the detectors.",
    )
    label_column: str = Field(default="", max_length=255)
    train_labels: str = Field(
        default="",
        max_length=255,
        description="Column with partial training labels (1 = anomaly, 0 = normal, empty = "
        "unknown), used by the Automatic detector.",
    )
    max_fit_rows: int | None = Field(default=None, ge=2, le=2**31 - 1)
    base_model_id: int | None = Field(
        default=None,
        ge=1,
        le=2**62,
        description="Fine-tune from this trained model (AutoEncoder/VAE, same detector and "
        "columns) instead of training from scratch.",
    )
    scoring_model_id: int | None = Field(
        default=None,
        ge=1,
        le=2**62,
        description="Score the dataset with this trained model instead of fitting (no "
        "detector_config_id then). A time-series model reads the series it was trained on.",
    )
    accept_cost: bool = Field(
        default=False, description="Start even when the pre-flight estimate says the run is heavy."
    )
    analysis: Literal["table", "timeseries"] = Field(
        default="table",
        description="'timeseries': read the rows as one or many time series (analysis_options).",
    )
    analysis_options: TimeSeriesOptionsIn | None = None


class RunOut(Schema):
    id: int
    status: str
    stage: str
    percent: float
    rows_done: int
    rows_total: int
    rows_per_second: float | None
    eta_seconds: float | None
    error: str
    threshold: float | None
    summary: dict[str, Any]
    metrics: dict[str, Any]
    dataset_id: int
    dataset_version_id: int
    detector_config_id: int
    detector_version_id: int
    label_column: str
    train_label_column: str = ""
    max_fit_rows: int | None
    analysis: str = Field("table", description="table rows, graph nodes, or time series")
    analysis_options: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any] = Field(
        default_factory=dict, description="What Automatic chose and why (empty otherwise)."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    trained_model_id: int | None
    progress_detail: dict[str, Any] = Field(
        default_factory=dict,
        description="Deep detectors while fitting: epoch, epochs, loss, eta_seconds.",
    )
    device: str = Field(default="", description="Torch device a deep detector trained on.")
    base_model_id: int | None = Field(default=None, description="Model it was fine-tuned from.")
    scoring_model_id: int | None = Field(
        default=None, description="Trained model it scored with (no fit)."
    )


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None


class Attribution(Schema):
    feature: str
    value: float


class ResultRow(Schema):
    row_id: Any
    score: float | None
    label: int
    severity: float | None
    reasons: list[Attribution] | None = Field(
        default=None,
        description="The features pushing the score up most, by the run's attributions "
        "(see GET /runs/{id}/explanations for the method); null for rows not explained.",
    )


class ExplainedRow(Schema):
    row_id: int
    score: float | None
    base_value: float
    output: float
    attributions: list[Attribution]


class SegmentHint(Schema):
    column: str
    value: Any
    anomalies: int
    rows: int
    share_anomalies: float
    share_rows: float
    lift: float
    p_value: float


class ExplanationsOut(Schema):
    method: str | None = Field(description="tree_shap, native or sampling_shap; null if none")
    method_label: str | None
    units: str | None
    rows: int = Field(description="How many rows the run explained (flagged, highest first)")
    seconds: float | None
    error: str | None = Field(description="Why the run has no explanations, when it has none")
    importance: list[Attribution] = Field(description="Mean |attribution| per feature")
    segments: list[SegmentHint]
    items: list[ExplainedRow]


class RowOut(Schema):
    row_id: int
    score: float | None
    severity: float | None
    label: int
    values: dict[str, Any]
    method: str | None
    method_label: str | None
    explanation: ExplainedRow | None
    reasons: list[Attribution]
    reasons_kind: str


class ResultPage(Schema):
    items: list[ResultRow]
    next_cursor: str | None


# ---------------------------------------------------------------- trained models
class ModelOut(Schema):
    id: int
    run_id: int
    detector_config_id: int
    detector_version: int
    feature_names: list[str]
    input_columns: list[str]
    threshold: float
    created_at: datetime


class ModelPage(Schema):
    items: list[ModelOut]
    next_cursor: str | None


MAX_SCORE_RECORDS = 10_000


class ScoreIn(BaseModel):
    """The score endpoint's body. A plain pydantic model, not a ninja Schema: the endpoint parses
    the raw bytes with ``model_validate_json``, and ninja's root validator (which wraps every
    input for attribute access) would cost as much again as the parsing itself."""

    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_SCORE_RECORDS)


class ScoreOut(Schema):
    scores: list[float | None]
    labels: list[int]
    severity: list[float | None]
    threshold: float
