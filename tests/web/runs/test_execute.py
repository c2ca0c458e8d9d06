"""The runs.execute task end to end on small generated data (called in-process)."""

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.detectors.models import TrainedModel
from apps.runs import recovery, services
from apps.runs.models import Run
from apps.runs.tasks import UNEXPECTED, execute_run

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


def _results(run) -> pd.DataFrame:
    return pd.read_parquet(run.results.path)


def test_a_run_succeeds_with_results_parquet_summary_and_metrics(alice, tenant_a):
    version = make_version(tenant_a, blobs(400))
    run = make_run(
        tenant_a, alice, version, make_config(tenant_a, alice), label_column="is_anomaly"
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.percent == 100 and run.stage == Run.Stage.DONE and run.attempts == 1
    df = _results(run)
    assert list(df.columns) == ["row_id", "score", "label", "severity"]
    assert len(df) == 400 and df["row_id"].tolist() == list(range(400))
    assert str(df["label"].dtype) == "int8" and str(df["row_id"].dtype) == "int64"
    assert run.summary["rows"] == 400 and run.summary["anomalies"] == int(df["label"].sum())
    assert run.summary["feature_names"] == ["a", "b", "c"]  # the label column is not a feature
    assert run.summary["has_contributions"] is False and run.summary["label_column"] == "is_anomaly"
    assert "is_anomaly" in run.summary["prepare"]["excluded"]
    assert run.metrics["roc_auc"] > 0.95
    assert run.threshold == pytest.approx(run.summary["threshold"])
    assert set(run.timings) >= {"loading", "preparing", "fitting", "scoring", "writing"}
    assert TrainedModel.objects.get(run=run).sha256
    assert AuditEvent.objects.filter(action="run.finished", target_id=str(run.pk)).count() == 1


def test_contributions_become_contrib_columns_and_no_label_means_no_metrics(alice, tenant_a):
    version = make_version(tenant_a, blobs(300, label=False))
    run = make_run(
        tenant_a, alice, version, make_config(tenant_a, alice, detectors=(("ecod", {}),))
    )
    execute_run(run.pk)
    run.refresh_from_db()
    df = _results(run)
    assert [c for c in df.columns if c.startswith("contrib:")] == [
        "contrib:a",
        "contrib:b",
        "contrib:c",
    ]
    assert run.summary["has_contributions"] is True
    assert run.metrics == {}


def test_the_time_column_is_kept_out_of_the_features(alice, tenant_a):
    df = blobs(200, label=False)
    df["when"] = pd.date_range("2024-01-01", periods=200, freq="h")
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, df, time_column="when"),
        make_config(tenant_a, alice),
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.summary["time_column"] == "when" and "when" not in run.summary["feature_names"]


def test_a_subsample_fits_on_max_fit_rows_but_scores_every_row(alice, tenant_a):
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(500)),
        make_config(tenant_a, alice),
        max_fit_rows=100,
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.summary["fit_rows"] == 100
    assert len(_results(run)) == 500


def test_the_task_is_idempotent_on_a_finished_run(alice, tenant_a):
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(200)), make_config(tenant_a, alice)
    )
    execute_run(run.pk)
    run.refresh_from_db()
    before = (run.status, run.finished_at, run.results.name, run.attempts, run.summary)
    events = AuditEvent.objects.count()
    execute_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.results.name, run.attempts, run.summary) == before
    assert AuditEvent.objects.count() == events


def test_a_duplicate_delivery_leaves_a_run_with_a_fresh_heartbeat_alone(alice, tenant_a):
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice),
        status=Run.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.attempts == 1


def test_data_the_engine_refuses_ends_failed_with_its_message(alice, tenant_a):
    df = blobs(100)
    df["is_anomaly"] = [0, 1, 2, 3] * 25  # not binary
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, df),
        make_config(tenant_a, alice),
        label_column="is_anomaly",
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "label column 'is_anomaly'" in run.error and "binary" in run.error
    assert AuditEvent.objects.filter(action="run.failed", target_id=str(run.pk)).count() == 1


def test_a_failing_detector_ends_failed_with_the_engines_message(alice, tenant_a, monkeypatch):
    import pynomaly.catalogue

    real = pynomaly.catalogue.build_detector

    class Broken:
        def __init__(self, inner):
            self.inner = inner

        def fit(self, X):
            raise ValueError("Could not form valid cluster separation")

    monkeypatch.setattr(pynomaly.catalogue, "build_detector", lambda *a, **k: Broken(real(*a, **k)))
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice, detectors=(("cblof", {}),)),
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error == "CBLOF failed: Could not form valid cluster separation"


def test_an_unexpected_error_fails_the_run_with_a_generic_message(
    alice, tenant_a, monkeypatch, caplog
):
    import pynomaly.detect

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(pynomaly.detect, "summarize", boom)
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(100)), make_config(tenant_a, alice)
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.error == UNEXPECTED
    assert "secret internals" in caplog.text


def test_a_run_beyond_its_attempts_is_failed_not_run(alice, tenant_a, settings):
    settings.RUN_MAX_ATTEMPTS = 2
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice),
        attempts=2,
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "after 2 attempts" in run.error


def test_cancelling_a_running_run_stops_it_at_the_next_chunk(
    alice, tenant_a, monkeypatch, settings
):
    settings.RUN_CHUNK_ROWS = 50
    real = services.record_progress
    seen = []

    def hook(*, run, stage, done, total, force=False):
        seen.append((stage, done))
        if stage == "scoring" and done == 1:
            services.run_cancel(run=Run.objects.get(pk=run.pk), user=alice)
        return real(run=run, stage=stage, done=done, total=total, force=force)

    monkeypatch.setattr(services, "record_progress", hook)
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(400)), make_config(tenant_a, alice)
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert ("scoring", 2) not in seen  # stopped before the second chunk
    assert not run.results
    assert [
        e.action
        for e in AuditEvent.objects.filter(target_type="runs.run", target_id=str(run.pk)).order_by(
            "pk"
        )
    ] == ["run.cancel_requested", "run.cancelled"]


def test_progress_is_throttled_but_stage_changes_always_write(alice, tenant_a):
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice),
        status=Run.Status.RUNNING,
        rows_total=1000,
    )
    assert services.record_progress(run=run, stage="scoring", done=1, total=10)
    assert not services.record_progress(run=run, stage="scoring", done=2, total=10)
    assert services.record_progress(run=run, stage="writing", done=0, total=1)
    run.refresh_from_db()
    assert run.stage == "writing" and run.percent == 97.0 and run.heartbeat_at is not None


# ---------------------------------------------------------------- the reaper
def test_the_reaper_requeues_a_stale_run_when_attempts_allow(
    alice, tenant_a, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.runs import tasks

    settings.RUN_MAX_ATTEMPTS = 2
    sent = []
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda args, task_id: sent.append(args))
    stale = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 5)
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice),
        status=Run.Status.RUNNING,
        attempts=1,
        heartbeat_at=stale,
    )
    fresh = make_run(
        tenant_a,
        alice,
        run.dataset_version,
        run.detector_version.config,
        status=Run.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = recovery.run_reap_stale()
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert counts["requeued"] == 1
    assert run.status == Run.Status.QUEUED and sent == [[run.pk]]
    assert fresh.status == Run.Status.RUNNING


def test_the_reaper_fails_a_stale_run_out_of_attempts(alice, tenant_a, settings):
    settings.RUN_MAX_ATTEMPTS = 2
    stale = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 5)
    run = make_run(
        tenant_a,
        alice,
        make_version(tenant_a, blobs(100)),
        make_config(tenant_a, alice),
        status=Run.Status.RUNNING,
        attempts=2,
        heartbeat_at=stale,
    )
    recovery.run_reap_stale()
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "the worker stopped responding" in run.error
    assert AuditEvent.objects.filter(action="run.failed", target_id=str(run.pk)).count() == 1


def test_the_reaper_resends_a_queued_run_nobody_picked_up(
    alice, tenant_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.runs import tasks

    sent = []
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda args, task_id: sent.append(args))
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(100)), make_config(tenant_a, alice)
    )
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=1))
    young = make_run(tenant_a, alice, run.dataset_version, run.detector_version.config)
    with django_capture_on_commit_callbacks(execute=True):
        recovery.run_reap_stale()
    assert sent == [[run.pk]]
    run.refresh_from_db()
    assert run.attempts == 1 and run.status == Run.Status.QUEUED
    young.refresh_from_db()
    assert young.attempts == 0
