"""Comparing runs with statistics, a dataset version's leaderboard, and starting a bake-off."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.models import DetectorConfig
from apps.detectors.services import ConfigInvalid
from apps.runs import comparison
from apps.runs.bakeoff import MAX_DETECTORS, bakeoff_start_with_keys
from apps.runs.models import Run
from apps.runs.rules import RunInvalid
from apps.tenants.access import get_scoped_or_404

from ..auth import write_auth
from ..errors import ApiProblem
from .common import MAX_ID, scoped_or_404
from .runs import _finished, _runs, run_out

router = Router(tags=["comparisons"])


class ComparisonOut(Schema):
    a: int
    b: int
    dataset_version_id: int
    labelled: bool = Field(description="Whether labels judged the runs (else: agreement only).")
    truth_source: str | None = Field(description="Where the labels came from.")
    labelled_rows: int
    anomalies: int
    rows: int = Field(description="Rows the statistics were computed on.")
    sampling: dict[str, Any] = Field(description="rows, of, sampled, rule: how rows were chosen.")
    level: float
    n_boot: int
    sentence: str = Field(
        description="The headline, e.g. 'B (#2) is better than A (#1) on ROC-AUC (0.91 vs 0.84, p = 0.003).'"
    )
    sentences: list[str]
    roc_auc: dict[str, Any] | None = Field(
        None,
        description="a, b: {value, low, high}; test: DeLong (diff = B − A, low, high, z, p_value).",
    )
    average_precision: dict[str, Any] | None = Field(
        None,
        description="a, b: {value, low, high}; test: paired bootstrap (diff, low, high, p_value).",
    )
    rank_agreement: dict[str, Any] = Field(description="spearman, kendall: {value, low, high}.")
    overlap: dict[str, Any] = Field(description="jaccard, kappa: {value, low, high}; counts.")
    note: str | None = None


class LeaderboardEntry(Schema):
    rank: int
    run_id: int
    detector_config_id: int
    detector: str
    roc_auc: dict[str, Any] | None = None
    average_precision: dict[str, Any] | None = None
    vs_best: dict[str, Any] | None = Field(
        None,
        description="Against the best run: differences and p-values (DeLong, paired bootstrap).",
    )
    consensus_spearman: dict[str, Any] | None = Field(
        None,
        description="Without labels: agreement with the consensus ranking, {value, low, high}.",
    )


class LeaderboardOut(Schema):
    dataset_id: int
    number: int
    dataset_version_id: int
    labelled: bool
    truth_source: str | None
    runs_considered: int
    pending: int = Field(description="Runs on this version still queued or running.")
    sampling: dict[str, Any] | None = None
    level: float | None = None
    n_boot: int | None = None
    note: str | None = None
    entries: list[LeaderboardEntry]


class BakeoffIn(Schema):
    detector_config_ids: list[int] = Field(default=[], max_length=MAX_DETECTORS)
    detectors: list[str] = Field(
        default=[],
        max_length=MAX_DETECTORS,
        description="Detector keys (e.g. iforest, knn): each runs with default parameters, "
        "through the workspace's configuration '<key> (defaults)' (created when missing).",
    )
    label_column: str = Field(default="", max_length=255)
    max_fit_rows: int | None = Field(default=None, ge=2, le=2**31 - 1)
    accept_cost: bool = False


class BakeoffOut(Schema):
    runs: list[dict[str, Any]]
    leaderboard: str = Field(description="The API path of the version's leaderboard.")


def _problem(loc: list, msg: str) -> ApiProblem:
    return ApiProblem(422, msg, errors=[{"loc": loc, "msg": msg}], title="Validation failed")


@router.get(
    "/runs/compare",
    response=ComparisonOut,
    summary="Two runs on the same data: which is better (with labels) and how far they agree",
)
def compare_runs(
    request: HttpRequest,
    a: int = Query(..., ge=1, le=MAX_ID, description="Run A"),
    b: int = Query(..., ge=1, le=MAX_ID, description="Run B"),
):
    run_a, run_b = _finished(request, a), _finished(request, b)
    if run_a.dataset_version_id != run_b.dataset_version_id:
        raise _problem(
            ["query", "b"],
            f"Runs {a} and {b} scored different dataset versions; only runs on the same "
            "version can be compared.",
        )
    stats = comparison.compare_statistics(run_a, run_b)
    return {
        **{k: v for k, v in stats.items() if k not in ("names",)},
        "a": a,
        "b": b,
        "dataset_version_id": run_a.dataset_version_id,
    }


def _version(request: HttpRequest, dataset_id: int, number: int) -> DatasetVersion:
    dataset = scoped_or_404(Dataset.objects.all(), request, dataset_id, "dataset")
    try:
        return get_scoped_or_404(
            request, DatasetVersion.objects.select_related("dataset", "tenant"),
            dataset=dataset, number=number,
        )  # fmt: skip
    except Http404:
        raise ApiProblem(404, f"Dataset {dataset_id} has no version {number}.") from None


def _entry(e: dict) -> dict:
    run: Run = e["run"]
    return {
        "rank": e["rank"],
        "run_id": run.pk,
        "detector_config_id": run.detector_version.config_id,
        "detector": str(run.detector_version),
        **{k: e.get(k) for k in ("roc_auc", "average_precision", "vs_best", "consensus_spearman")},
    }


@router.get(
    "/datasets/{int:dataset_id}/versions/{int:number}/leaderboard",
    response=LeaderboardOut,
    summary="A dataset version's succeeded runs ranked, with intervals and tests against the best",
)
def leaderboard(request: HttpRequest, dataset_id: int, number: int):
    version = _version(request, dataset_id, number)
    # Counted before ranking: a run finishing in between is then counted as pending, never
    # missing from a board that says nothing is pending (clients wait for pending == 0).
    pending = version.runs.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).count()
    board = comparison.leaderboard(version)
    return {
        **{
            k: board.get(k)
            for k in (
                "labelled",
                "truth_source",
                "runs_considered",
                "sampling",
                "level",
                "n_boot",
                "note",
            )
        },  # fmt: skip
        "dataset_id": dataset_id,
        "number": number,
        "dataset_version_id": version.pk,
        "pending": pending,
        "entries": [_entry(e) for e in board["entries"]],
    }


@router.post(
    "/datasets/{int:dataset_id}/versions/{int:number}/bakeoff",
    auth=write_auth,
    response={202: BakeoffOut},
    summary="Start several detectors on this version together (all pass the start rules, or none starts)",
)
def start_bakeoff(request: HttpRequest, dataset_id: int, number: int, body: BakeoffIn):
    version = _version(request, dataset_id, number)
    if version.dataset.status != Dataset.Status.READY:
        raise _problem(["path", "dataset_id"], f"{version.dataset.name} is not ready.")
    configs = [
        scoped_or_404(DetectorConfig.objects.all(), request, pk, "detector configuration")
        for pk in body.detector_config_ids
    ]
    try:
        runs = bakeoff_start_with_keys(
            tenant=request.tenant,  # type: ignore[attr-defined]  # set by the token auth
            user=request.user,
            dataset_version=version,
            configs=configs,
            keys=body.detectors,
            label_column=body.label_column,
            max_fit_rows=body.max_fit_rows,
            accept_cost=body.accept_cost,
            request=request,
        )
    except ConfigInvalid as exc:
        errors = [{"loc": ["body", *path], "msg": msg} for path, msg in exc.errors]
        raise ApiProblem(422, exc.errors[0][1], errors=errors, title="Validation failed") from None
    except RunInvalid as exc:
        field_of = {"configs": "detector_config_ids"}
        errors = [{"loc": ["body", field_of.get(f, f)], "msg": m} for f, m in exc.errors]
        raise ApiProblem(422, " ".join(m for _, m in exc.errors), errors=errors,
                         title="Validation failed") from None  # fmt: skip
    fresh = _runs(request).filter(pk__in=[r.pk for r in runs]).order_by("id")
    return Status(
        202,
        {
            "runs": [run_out(r) for r in fresh],
            "leaderboard": f"/api/v1/datasets/{dataset_id}/versions/{number}/leaderboard",
        },
    )
