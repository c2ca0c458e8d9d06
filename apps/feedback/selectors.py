"""Reads of verdicts: as labels for training and metrics, and for the pages that show them."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest

from apps.datasets.models import DatasetVersion
from apps.runs.models import Run
from pynomaly import feedback as F

from .models import LABEL_OF, Kind, Verdict, VerdictChange

Part = Literal["all", "train", "held_out"]


def verdicts_for(version: DatasetVersion):
    """The workspace's current verdicts on ``version``'s rows, by row."""
    return Verdict.objects.for_tenant(version.tenant).filter(dataset_version=version)


def holdout_salt(version: DatasetVersion) -> str:
    """What decides which verdicts are held out: the version's content (never its id or order)."""
    return version.sha256


def verdict_labels(version: DatasetVersion, *, part: Part = "all") -> dict[int, int]:
    """Row → 1 (anomaly) / 0 (normal) from the verdicts on ``version``; unsure rows left out.

    ``part="train"`` leaves out the held-out verdicts (what a retrain may train on),
    ``part="held_out"`` keeps only those (what compares a retrain with its parent); see
    :func:`pynomaly.feedback.held_out` for the rule.
    """
    pairs = verdicts_for(version).exclude(verdict=Kind.UNSURE).values_list("row", "verdict")
    labels = {int(row): LABEL_OF[Kind(v)] for row, v in pairs}
    if part == "all":
        return labels
    train, held = F.split(labels, holdout_salt(version))
    return train if part == "train" else held


def run_training_labels(run: Run) -> dict[int, int]:
    """The verdict labels a run may train on: the training part when it uses verdicts, else none."""
    return verdict_labels(run.dataset_version, part="train") if run.use_verdicts else {}


def verdicts_by_row(version: DatasetVersion, rows) -> dict[int, Verdict]:
    rows = [int(r) for r in rows]
    if not rows:
        return {}
    return {
        v.row: v for v in verdicts_for(version).filter(row__in=rows).select_related("created_by")
    }


def verdict_counts(version: DatasetVersion) -> dict[str, int]:
    """How many rows carry each verdict, and in all."""
    counts = {k.value: 0 for k in Kind}
    for kind in verdicts_for(version).values_list("verdict", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    counts["total"] = sum(counts[k.value] for k in Kind)
    return counts


def rows_with(version: DatasetVersion, verdict: str) -> list[int]:
    """Rows whose current verdict is ``verdict`` (a Kind value) or, for "any", any verdict."""
    qs = verdicts_for(version)
    if verdict != "any":
        qs = qs.filter(verdict=verdict)
    return list(qs.values_list("row", flat=True))


def verdicts_version(version: DatasetVersion) -> tuple[int, int]:
    """Changes when any verdict on ``version`` does (the newest change and how many there are)."""
    from django.db.models import Count, Max

    agg = (
        VerdictChange.objects.for_tenant(version.tenant)
        .filter(dataset_version=version)
        .aggregate(newest=Max("id"), n=Count("id"))
    )
    return (agg["newest"] or 0, agg["n"])


def row_history(version: DatasetVersion, row: int) -> list[VerdictChange]:
    return list(
        VerdictChange.objects.for_tenant(version.tenant)
        .filter(dataset_version=version, row=row)
        .select_related("created_by")[:50]
    )


def get_verdict_for_member(request: HttpRequest, verdict_id: int) -> Verdict:
    """The workspace's verdict or 404 (audited when it is another workspace's)."""
    from apps.tenants.access import get_scoped_or_404

    return get_scoped_or_404(
        request, Verdict.objects.select_related("dataset_version"), pk=verdict_id
    )
