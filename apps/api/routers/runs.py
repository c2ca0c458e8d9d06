"""Runs: start, list, watch, cancel; results paged from the Parquet and downloads streamed."""

from __future__ import annotations

from typing import Literal

import numpy as np
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Status

from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.models import DetectorConfig, TrainedModel
from apps.detectors.services import detector_config_automatic
from apps.runs import explanations, exports, selectors
from apps.runs.anomalies import row_detail
from apps.runs.models import Run
from apps.runs.rules import RunInvalid, run_start_check
from apps.runs.services import RunStateError, run_cancel, run_start, scoring_inputs
from pynomaly import results as R

from ..auth import write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, decode, encode, page
from ..schemas import ExplanationsOut, ResultPage, RowOut, RunIn, RunOut, RunPage
from .common import LIMIT_DESCRIPTION, MAX_ID, scoped_or_404

router = Router(tags=["runs"])
REASONS_N = 3  # attributed features per result row


def run_out(r: Run) -> dict:
    model_id = TrainedModel.objects.filter(run=r).values_list("id", flat=True).first()
    return {
        "id": r.pk,
        "status": r.status,
        "stage": r.stage,
        "percent": r.percent,
        "rows_done": r.rows_done,
        "rows_total": r.rows_total,
        "rows_per_second": r.rows_per_second,
        "eta_seconds": r.eta_seconds,
        "error": r.error,
        "threshold": r.threshold,
        "summary": r.summary or {},
        "metrics": r.metrics or {},
        "dataset_id": r.dataset_version.dataset_id,
        "dataset_version_id": r.dataset_version_id,
        "detector_config_id": r.detector_version.config_id,
        "detector_version_id": r.detector_version_id,
        "label_column": r.label_column,
        "train_label_column": r.train_label_column,
        "max_fit_rows": r.max_fit_rows,
        "analysis": r.analysis,
        "analysis_options": r.analysis_options or {},
        "selection": r.selection or {},
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "trained_model_id": model_id,
        "progress_detail": r.progress_detail or {},
        "device": r.device,
        "base_model_id": r.base_model_id,
        "scoring_model_id": r.scoring_model_id,
    }


def _runs(request: HttpRequest):
    return Run.objects.for_tenant(request.tenant).select_related(
        "dataset_version", "detector_version"
    )


def _unprocessable(loc: list, msg: str) -> ApiProblem:
    return ApiProblem(422, msg, errors=[{"loc": loc, "msg": msg}], title="Validation failed")


def _chosen_version(request: HttpRequest, body: RunIn) -> DatasetVersion:
    if (body.dataset_id is None) == (body.dataset_version_id is None):
        raise _unprocessable(
            ["body", "dataset_id"], "Give exactly one of dataset_id or dataset_version_id."
        )
    if body.dataset_version_id is not None:
        return scoped_or_404(
            DatasetVersion.objects.select_related("dataset"),
            request,
            body.dataset_version_id,
            "dataset version",
        )
    dataset = scoped_or_404(Dataset.objects, request, body.dataset_id, "dataset")
    version = dataset.latest_version
    if version is None:
        raise _unprocessable(
            ["body", "dataset_id"],
            f"{dataset.name} has no ingested version yet (status: {dataset.status}).",
        )
    return version


def _chosen_config(request: HttpRequest, body: RunIn) -> DetectorConfig:
    if (body.detector_config_id is None) == (body.detector is None):
        raise _unprocessable(
            ["body", "detector_config_id"],
            "Give exactly one of detector_config_id or detector ('auto').",
        )
    if body.detector == "auto":
        return detector_config_automatic(tenant=request.tenant, user=request.user, request=request)
    return scoped_or_404(
        DetectorConfig.objects, request, body.detector_config_id, "detector configuration"
    )


# The start rules name the form's fields; the API's body calls some of them differently.
_BODY_FIELD = {"train_label_column": "train_labels"}
_OPTION_FIELDS = ("time_column", "value_columns", "id_column", "window")


def _body_field(field: str) -> list[str]:
    if field in _OPTION_FIELDS:
        return ["analysis_options", field]
    if field == "detector":
        return ["detector_config_id"]
    return [_BODY_FIELD.get(field, field)]


@router.post(
    "",
    auth=write_auth,
    response={202: RunOut},
    summary="Start a run; a worker executes it (watch GET /runs/{id})",
)
def start_run(request: HttpRequest, body: RunIn):
    """Name the data (`dataset_id` for its latest version, or `dataset_version_id`) and the
    detector (`detector_config_id`, or `detector: "auto"`); a `label_column` makes the run
    report ROC-AUC and the other metrics against it. The start rules are checked first (the
    dataset ingested, the columns there, the cost estimate within limits unless `accept_cost`);
    the answer is the queued run.
    """
    version = _chosen_version(request, body)
    scoring_model = _scoring_model(request, body)
    if scoring_model is not None:
        detector_version = scoring_model.detector_version
    else:
        config = _chosen_config(request, body)
        if config.current is None:
            raise _unprocessable(
                ["body", "detector_config_id"], f"{config.name} has no version yet."
            )
        detector_version = config.current
    if version.dataset.status != Dataset.Status.READY:
        raise _unprocessable(
            ["body", "dataset_id"],
            f"{version.dataset.name} is not ready (status: {version.dataset.status}).",
        )
    # The same rules as the browser's form (label column, sample size, cost guard): one service.
    options = body.analysis_options.model_dump() if body.analysis_options is not None else {}
    analysis: str = body.analysis
    if scoring_model is not None:
        try:  # a time-series model reads the series it was trained on
            analysis, scored = scoring_inputs(
                scoring_model, request.tenant, version, analysis, options
            )
        except RunStateError as exc:
            raise _unprocessable(["body", "scoring_model_id"], str(exc)) from None
        options = dict(scored or {})
    elif body.analysis == "timeseries" and body.analysis_options is None:
        raise _unprocessable(
            ["body", "analysis_options"], "A time-series run needs analysis_options.time_column."
        )
    try:
        run_start_check(
            dataset_version=version,
            detector_version=detector_version,
            label_column=body.label_column,
            max_fit_rows=body.max_fit_rows,
            accept_cost=body.accept_cost,
            train_label_column=body.train_labels,
            analysis=analysis,
            analysis_options=options,
        )
    except RunInvalid as exc:
        errors = [
            {"loc": ["body", *_body_field(field)], "msg": message} for field, message in exc.errors
        ]
        detail, extra = errors[0]["msg"], {}
        if exc.estimate is not None and any(f == "accept_cost" for f, _ in exc.errors):
            # The cost guard: say what it estimated and suggests.
            cost = exc.estimate
            detail = " ".join([*cost.warnings, cost.summary_text, detail])
            extra["estimate"] = cost.to_dict()
        raise ApiProblem(
            422, detail, errors=errors, title="Validation failed", extra=extra
        ) from None
    base_model = None
    if body.base_model_id is not None:
        base_model = scoped_or_404(TrainedModel.objects, request, body.base_model_id, "model")
    try:
        run = run_start(
            tenant=request.tenant,
            user=request.user,
            dataset_version=version,
            detector_version=detector_version,
            label_column=body.label_column,
            max_fit_rows=body.max_fit_rows,
            train_label_column=body.train_labels,
            request=request,
            base_model=base_model,
            scoring_model=scoring_model,
            analysis=analysis,
            analysis_options=options,
        )
    except RunStateError as exc:
        raise _unprocessable(["body"], str(exc)) from None
    return Status(202, run_out(_runs(request).get(pk=run.pk)))


def _scoring_model(request: HttpRequest, body: RunIn) -> TrainedModel | None:
    """The trained model the run scores with (``scoring_model_id``), instead of fitting."""
    if body.scoring_model_id is None:
        return None
    if body.detector_config_id is not None or body.detector is not None:
        raise _unprocessable(
            ["body", "scoring_model_id"],
            "Give either scoring_model_id (score with a trained model) or a detector "
            "configuration to fit, not both.",
        )
    if body.base_model_id is not None:
        raise _unprocessable(
            ["body", "scoring_model_id"],
            "A run scores with a model or fine-tunes one, not both.",
        )
    return scoped_or_404(
        TrainedModel.objects.select_related("run", "detector_version"),
        request,
        body.scoring_model_id,
        "model",
    )


@router.get("", response=RunPage, summary="Runs, newest first, optionally filtered")
def list_runs(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    dataset_id: int | None = Query(None, ge=1, le=MAX_ID),
    detector_config_id: int | None = Query(None, ge=1, le=MAX_ID),
):
    """Filter by `status`, `dataset_id` or `detector_config_id`; each item is the run as `GET
    /runs/{run_id}` gives it.
    """
    qs = _runs(request)
    if status:
        qs = qs.filter(status=status)
    if dataset_id:
        qs = qs.filter(dataset_version__dataset_id=dataset_id)
    if detector_config_id:
        qs = qs.filter(detector_version__config_id=detector_config_id)
    return page(qs, limit=limit, cursor=cursor, serialize=run_out)


@router.get("/{int:run_id}", response=RunOut, summary="One run: state, progress, summary, metrics")
def get_run(request: HttpRequest, run_id: int):
    """Poll this while a run works: `status` (queued, running, succeeded, failed, cancelled),
    `stage`, `percent` and rows per second; once succeeded, `summary` (counts, threshold) and
    `metrics` (against the label column, when one was named). `error` says why a run failed.
    """
    return run_out(scoped_or_404(_runs(request), request, run_id, "run"))


@router.post(
    "/{int:run_id}/cancel",
    auth=write_auth,
    response=RunOut,
    summary="Cancel a queued run, or ask a running one to stop at its next chunk",
)
def cancel_run(request: HttpRequest, run_id: int):
    """A queued run is cancelled at once; a running one stops at its next chunk (its status turns
    `cancelled`). A finished run answers 409.
    """
    run = scoped_or_404(_runs(request), request, run_id, "run")
    try:
        run_cancel(run=run, user=request.user, request=request)
    except RunStateError as exc:
        raise ApiProblem(409, str(exc), title="Run already finished") from None
    return run_out(_runs(request).get(pk=run.pk))


def _finished(request: HttpRequest, run_id: int) -> Run:
    run = scoped_or_404(_runs(request), request, run_id, "run")
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise ApiProblem(
            409, f"Run {run.pk} has no results (status: {run.status}).", title="No results yet"
        )
    try:
        selectors.file_key(run.results)
    except selectors.ResultsUnavailable:
        raise ApiProblem(404, f"The results file of run {run.pk} is missing.") from None
    return run


def _positions(
    run: Run, order: str, only_anomalies: bool, start: int, count: int
) -> tuple[np.ndarray, int]:
    """Row positions of the page and how many rows match in all; reads whole columns only when sorting needs them."""
    if not only_anomalies and order == "row_id":
        total = selectors.parquet_file(run.results).metadata.num_rows
        return np.arange(start, min(start + count, total), dtype=np.int64), total
    if only_anomalies:
        candidates = np.flatnonzero(selectors.flags(run))
    else:
        candidates = None
    if order == "row_id":
        return candidates[start : start + count], len(candidates)
    s = selectors.scores(run)
    s = np.where(np.isnan(s), -np.inf, s)
    pool = np.arange(len(s), dtype=np.int64) if candidates is None else candidates
    need = min(start + count, len(pool))
    if need <= 0:
        return pool[:0], len(pool)
    keys = -s[pool]
    if need < len(pool):
        top = np.argpartition(keys, need - 1)[:need]
        # argpartition is not stable among equal scores: settle ties by position
        top = top[np.lexsort((pool[top], keys[top]))]
    else:
        top = np.lexsort((pool, keys))
    return pool[top][start : start + count], len(pool)


@router.get(
    "/{int:run_id}/results",
    response=ResultPage,
    summary="Scored rows: by score (highest first) or by row_id; optionally anomalies only",
)
def run_results(
    request: HttpRequest,
    run_id: int,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
    only_anomalies: bool = False,
    order: Literal["score", "row_id"] = "score",
):
    """Every scored row of a succeeded run: `score` (higher is more anomalous), `severity`,
    `predicted_anomaly` at the saved threshold and the top attributed features. `order=score`
    pages highest first; `only_anomalies=true` keeps the flagged rows. A run without results yet
    answers 409.
    """
    run = _finished(request, run_id)
    salt = f":results:{run.pk}:{order}:{int(only_anomalies)}"
    start = int(decode(cursor, salt_extra=salt)) if cursor else 0
    positions, total = _positions(run, order, only_anomalies, start, limit)
    names = selectors.column_names(run.results)
    columns = [c for c in (R.ROW_ID, R.SCORE, R.SEVERITY) if c in names]
    values = (
        selectors.values_at(run.results, positions, columns)
        if len(positions)
        else {c: [] for c in columns}
    )
    s = values.get(R.SCORE, [])
    if run.threshold is not None:
        labels = R.flags(np.array(s, dtype="float64"), run.threshold).astype(int).tolist()
    else:
        labels = (
            [int(bool(v)) for v in selectors.values_at(run.results, positions, [R.LABEL])[R.LABEL]]
            if len(positions)
            else []
        )
    ids = [
        values["row_id"][i] if "row_id" in values else int(positions[i])
        for i in range(len(positions))
    ]
    reasons = explanations.top_for(run, np.asarray(ids, dtype=np.int64), REASONS_N) if ids else {}
    items = [
        {
            "row_id": ids[i],
            "score": _finite(s[i]),
            "label": labels[i],
            "severity": _finite(values["severity"][i]) if "severity" in values else None,
            "reasons": reasons.get(int(ids[i])),
        }
        for i in range(len(positions))
    ]
    end = start + len(positions)
    next_cursor = encode(end, salt_extra=salt) if end < total else None
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{int:run_id}/explanations",
    response=ExplanationsOut,
    summary="Why rows were flagged: per-row attributions, global feature importance, segment hints",
)
def run_explanations(
    request: HttpRequest,
    run_id: int,
    limit: int = Query(
        100, ge=1, le=10_000, description="Explained rows to return, highest score first"
    ),
    top: int | None = Query(None, ge=1, le=10_000, description="Features per row (default: all)"),
):
    """The attributions of the highest-scoring rows (per feature, signed), the features that matter
    most across the run, and segments where anomalies gather. 409 until the run has succeeded.
    """
    run = _finished(request, run_id)
    info = explanations.info(run)
    ex = explanations.explanation(run)
    items = []
    if ex is not None:
        for i in range(min(limit, len(ex))):
            row = ex.row(int(ex.row_ids[i])) or {"attributions": []}
            items.append(
                {
                    "row_id": int(ex.row_ids[i]),
                    "score": _finite(ex.scores[i]),
                    "base_value": row["base_value"],
                    "output": row["output"],
                    "attributions": row["attributions"][:top] if top else row["attributions"],
                }
            )
    return {
        "method": info.get("method") or (ex.method if ex is not None else None),
        "method_label": info.get("method_label"),
        "units": info.get("units"),
        "rows": len(ex) if ex is not None else 0,
        "seconds": info.get("seconds"),
        "error": info.get("error") or (None if ex is not None else "This run has no explanations."),
        "importance": explanations.importance(run),
        "segments": explanations.segments(run),
        "items": items,
    }


@router.get(
    "/{int:run_id}/rows/{int:row_id}",
    response=RowOut,
    summary="One scored row: its values, score, flag and the attributions that explain it",
)
def run_row(request: HttpRequest, run_id: int, row_id: int):
    """`row_id` is the row's position in the dataset version (as in the results). 404 for a row the
    run did not score; 409 until the run has succeeded.
    """
    run = _finished(request, run_id)
    detail = row_detail(run, row_id, figure=False)
    if detail is None:
        raise ApiProblem(404, f"Run {run.pk} has no row {row_id}.")
    info = detail["explanation"]
    attribution = detail["attribution"]
    return {
        "row_id": detail["row_id"],
        "score": detail["score"],
        "severity": detail["severity"],
        "label": int(detail["flagged"]),
        "values": {k: _json_value(v) for k, v in detail["values"]},
        "method": info.get("method") if attribution else None,
        "method_label": info.get("method_label") if attribution else None,
        "explanation": (
            {"row_id": detail["row_id"], "score": detail["score"], **attribution}
            if attribution
            else None
        ),
        "reasons": [
            {"feature": w["feature"], "value": w["value"]}
            for w in detail["why"]
            if w.get("value") is not None
        ],
        "reasons_kind": detail["why_kind"],
    }


def _json_value(v):
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _finite(v):
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


@router.get(
    "/{int:run_id}/results/download",
    summary="All results as CSV (streamed, spreadsheet-safe) or Parquet, labels at the saved threshold",
    response={200: None},
)
def download(
    request: HttpRequest,
    run_id: int,
    format: Literal["csv", "parquet"] = "csv",  # noqa: A002
    data: bool = False,
    only_anomalies: bool = False,
):
    """Columns: row_id, the row's timestamp/id columns, score, severity, predicted_anomaly (the
    flag at the saved threshold), reasons (flagged rows), contributions, and with ``data=true``
    every original column (a clashing name gets a ``data:`` prefix); ``only_anomalies=true``
    keeps the flagged rows alone."""
    run = _finished(request, run_id)
    if format == "parquet":
        return FileResponse(
            exports.parquet_download(run, original=data, only_anomalies=only_anomalies),
            as_attachment=True,
            filename=exports.filename(run, "parquet", original=data),
            content_type="application/vnd.apache.parquet",
        )
    response = StreamingHttpResponse(
        exports.csv_chunks(run, original=data, only_anomalies=only_anomalies),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{exports.filename(run, "csv", original=data)}"'
    )
    return response
