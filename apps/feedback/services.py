"""Verdict workflows: the only code that writes verdicts; retraining and thresholds from them.

Every change carries a client-generated UUID. The same UUID sent again (an offline queue that
syncs twice, a retried request) changes nothing and answers with the verdict as it stands, so
a device can resend until it hears back. Verdicts made offline carry the time they were made:
one older than the row's current verdict is kept in the history but does not replace it.
"""

from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import audit_record
from apps.datasets.models import DatasetVersion
from apps.detectors.services import detector_config_automatic
from apps.runs import selectors as run_selectors
from apps.runs.models import Run
from apps.runs.services import run_start, run_threshold_set
from pynomaly import feedback as F

from . import selectors
from .models import Kind, Verdict, VerdictChange

MAX_NOTE = 2000
MAX_SYNC_ITEMS = 500


class FeedbackError(Exception):
    """Input a verdict workflow refuses; ``field`` names what was wrong (for forms and the API)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class VerdictOutcome:
    """What one sent verdict did: ``verdict`` is the row's verdict as it now stands (None: none)."""

    uuid: uuid_lib.UUID
    row: int
    verdict: Verdict | None
    applied: bool  # False: a replay, or older than the row's current verdict
    duplicate: bool  # this UUID had been received before


def _check(version: DatasetVersion, row, kind: str, note: str, run: Run | None) -> int:
    try:
        row = int(row)
    except (TypeError, ValueError):
        raise FeedbackError("The row must be a whole number.", "row") from None
    if not 0 <= row < version.rows:
        raise FeedbackError(f"The dataset version has rows 0 to {version.rows - 1}.", "row")
    if kind and kind not in Kind.values:
        raise FeedbackError("The verdict must be anomaly, normal or unsure.", "verdict")
    if len(note) > MAX_NOTE:
        raise FeedbackError(f"The note is longer than {MAX_NOTE} characters.", "note")
    if run is not None and run.dataset_version_id != version.pk:
        raise FeedbackError("The run is on another dataset version.", "run")
    return row


def _uuid(value) -> uuid_lib.UUID:
    if value in (None, ""):
        return uuid_lib.uuid4()
    try:
        return value if isinstance(value, uuid_lib.UUID) else uuid_lib.UUID(str(value))
    except ValueError:
        raise FeedbackError("The uuid is not a UUID.", "uuid") from None


def _when(made_at: datetime | None) -> datetime:
    now = timezone.now()
    if made_at is None:
        return now
    if timezone.is_naive(made_at):
        made_at = timezone.make_aware(made_at, UTC)
    return min(made_at, now)  # a device clock ahead of ours must not win every later change


@transaction.atomic
def verdict_record(
    *,
    tenant,
    user,
    version: DatasetVersion,
    row,
    verdict: str,
    note: str = "",
    run: Run | None = None,
    uuid=None,
    made_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> VerdictOutcome:
    """Set (``verdict`` = a Kind) or clear (``verdict`` = "") the workspace's verdict on one row."""
    if version.tenant_id != tenant.pk or (run is not None and run.tenant_id != tenant.pk):
        raise FeedbackError("The dataset version must belong to this workspace.", "dataset_version")
    note = (note or "").strip()
    row = _check(version, row, verdict, note, run)
    change_id, when = _uuid(uuid), _when(made_at)
    seen = VerdictChange.objects.filter(uuid=change_id).first()
    if seen is not None:
        return _replayed(tenant, version, seen, change_id)
    current = (
        Verdict.objects.select_for_update()
        .filter(tenant=tenant, dataset_version=version, row=row)
        .first()
    )
    stale = current is not None and current.made_at > when
    try:
        with transaction.atomic():
            VerdictChange.objects.create(
                tenant=tenant,
                uuid=change_id,
                dataset_version=version,
                row=row,
                verdict=verdict,
                note=note,
                run=run,
                made_at=when,
                applied=not stale,
                created_by=user,
            )
    except IntegrityError:  # the same UUID arrived twice at once: the other request won
        seen = VerdictChange.objects.get(uuid=change_id)
        return _replayed(tenant, version, seen, change_id)
    if stale:
        return VerdictOutcome(change_id, row, current, applied=False, duplicate=False)
    before = {"verdict": current.verdict, "note": current.note} if current else None
    if not verdict:
        if current is not None:
            current.delete()
        current = None
    elif current is None:
        current = Verdict.objects.create(
            tenant=tenant,
            dataset_version=version,
            row=row,
            verdict=verdict,
            note=note,
            run=run,
            uuid=change_id,
            made_at=when,
            created_by=user,
        )
    else:
        current.verdict, current.note, current.run = verdict, note, run or current.run
        current.uuid, current.made_at, current.created_by = change_id, when, user
        current.save()
    audit_record(
        action="verdict.set" if verdict else "verdict.cleared",
        actor=user,
        tenant=tenant,
        target=version,
        request=request,
        details={
            "row": row,
            "before": before,
            "after": {"verdict": verdict, "note": note} if verdict else None,
            "run": run.pk if run else None,
            "uuid": str(change_id),
            "made_at": when.isoformat(),
        },
    )
    return VerdictOutcome(change_id, row, current, applied=True, duplicate=False)


def _replayed(tenant, version, seen: VerdictChange, change_id) -> VerdictOutcome:
    if seen.tenant_id != tenant.pk or seen.dataset_version_id != version.pk:
        raise FeedbackError("This uuid was already used for another verdict.", "uuid")
    current = Verdict.objects.filter(tenant=tenant, dataset_version=version, row=seen.row).first()
    return VerdictOutcome(change_id, seen.row, current, applied=False, duplicate=True)


def verdict_delete(*, verdict: Verdict, user, request: HttpRequest | None = None) -> VerdictOutcome:
    """Clear one verdict (recorded in the history and the audit trail like any change)."""
    return verdict_record(
        tenant=verdict.tenant,
        user=user,
        version=verdict.dataset_version,
        row=verdict.row,
        verdict="",
        request=request,
    )


def verdicts_sync(
    *, tenant, user, run: Run | None, items: list[dict], request: HttpRequest | None = None
) -> list[dict]:
    """Apply a batch of queued verdicts (an offline device coming back), each on its own.

    Returns one entry per item, in order: ``uuid``, ``row``, ``status`` (applied / duplicate /
    superseded / refused), the row's ``verdict`` as it now stands, and ``error`` for refusals.
    """
    if len(items) > MAX_SYNC_ITEMS:
        raise FeedbackError(f"Send at most {MAX_SYNC_ITEMS} verdicts at a time.", "items")
    results = []
    for item in items:
        try:
            version = run.dataset_version if run is not None else item["dataset_version"]
            made = item.get("made_at")
            outcome = verdict_record(
                tenant=tenant,
                user=user,
                version=version,
                row=item.get("row"),
                verdict=str(item.get("verdict") or ""),
                note=str(item.get("note") or ""),
                run=run,
                uuid=item.get("uuid"),
                made_at=made if isinstance(made, datetime) or made is None else _parse(made),
                request=request,
            )
        except FeedbackError as exc:
            results.append(
                {
                    "uuid": str(item.get("uuid", "")),
                    "row": item.get("row"),
                    "status": "refused",
                    "verdict": None,
                    "error": str(exc),
                    "field": exc.field,
                }
            )
            continue
        status = (
            "duplicate" if outcome.duplicate else ("applied" if outcome.applied else "superseded")
        )
        results.append(
            {
                "uuid": str(outcome.uuid),
                "row": outcome.row,
                "status": status,
                "verdict": outcome.verdict.verdict if outcome.verdict else None,
                "error": "",
            }
        )
    return results


def _parse(value) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise FeedbackError("made_at is not an ISO 8601 time.", "made_at") from None
    return parsed


# ---------------------------------------------------------------- learning from verdicts
def retrain_with_feedback(*, run: Run, user, request: HttpRequest | None = None) -> Run:
    """A new run on ``run``'s data that trains with the verdicts (parent = ``run``), the held-out
    part kept back, with the Automatic configuration (which uses labels when they help)."""
    if run.status != Run.Status.SUCCEEDED:
        raise FeedbackError("Retrain from a run that has succeeded.", "run")
    train = selectors.verdict_labels(run.dataset_version, part="train")
    if not train:
        total = len(selectors.verdict_labels(run.dataset_version))
        raise FeedbackError(
            "Mark some rows anomaly or normal first: "
            + (
                f"all {total} verdicts so far fall in the held-out part that training must not see."
                if total
                else "there are no verdicts on this dataset yet."
            ),
            "verdicts",
        )
    # Trained by the automatic selection: with labels it cross-validates the unsupervised
    # candidates against supervised / semi-supervised ones (pynomaly.automl) and keeps the best.
    automatic = detector_config_automatic(tenant=run.tenant, user=user, request=request).current
    if automatic is None:  # a configuration always has a version; the type does not say so
        raise FeedbackError("The Automatic configuration has no version.", "run")
    return run_start(
        tenant=run.tenant,
        user=user,
        dataset_version=run.dataset_version,
        detector_version=automatic,
        label_column=run.label_column,
        max_fit_rows=run.max_fit_rows,
        parent=run,
        use_verdicts=True,
        request=request,
    )


def threshold_from_verdicts(
    *, run: Run, user, request: HttpRequest | None = None
) -> tuple[Run, F.ThresholdChoice]:
    """Save the threshold that maximises F1 on the verdicts (through the runs' threshold service)."""
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise FeedbackError("Learn a threshold on a run that has succeeded.", "run")
    labels = selectors.verdict_labels(run.dataset_version)
    choice = F.best_f1_threshold(labels, run_selectors.row_ids(run), run_selectors.scores(run))
    if choice is None:
        raise FeedbackError("Mark at least one row as an anomaly to learn a threshold.", "verdicts")
    run = run_threshold_set(run=run, threshold=choice.threshold, actor=user, request=request)
    return run, choice
