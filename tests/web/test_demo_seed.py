import pytest
from django.core.management import call_command

from apps.datasets.models import Dataset
from apps.detectors.models import DetectorConfig
from apps.runs.models import Run
from apps.sources.models import Source
from apps.tenants.models import Membership, Tenant


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PYNOMALY_SOURCE_SQLITE_DIR = str(tmp_path / "sources")
    return tmp_path


def test_seeding_the_demo_gives_datasets_detectors_and_a_finished_run(db, media, capsys):
    call_command("seed_demo", now=True)  # the detections in this process: no worker here
    out = capsys.readouterr().out
    assert "demo@pynomaly.local / pynomaly-demo" in out

    tenant = Tenant.objects.get(slug="demo")
    assert Membership.objects.get(tenant=tenant, user__email="demo@pynomaly.local").role == "owner"
    datasets = Dataset.objects.for_tenant(tenant)
    assert sorted(d.status for d in datasets) == ["ready"] * 5
    # the demo files (payments, the sensor fleet: 4 x 600), the demo graph's nodes, and the
    # first pull of the demo source (two days of minutes)
    assert {d.latest_version.rows for d in datasets} == {10080, 5000, 600, 2400, 2880}
    source = Source.objects.for_tenant(tenant).get()
    assert source.watermark_value == "2880" and source.dataset.latest_version.rows == 2880
    configs = DetectorConfig.objects.for_tenant(tenant)
    assert configs.count() == 7  # 3 tabular, 2 graph, 2 time series
    assert configs.get(name="Automatic").current.detector_keys == ["auto"]

    graph_run = Run.objects.for_tenant(tenant).get(analysis=Run.Analysis.GRAPH)
    assert graph_run.status == Run.Status.SUCCEEDED, graph_run.error
    assert graph_run.summary["rows"] == 600 and graph_run.dataset_version.graph["edges"] > 2000
    assert graph_run.metrics["roc_auc"] > 0.7  # the planted anomalies are findable (0.80 measured)

    series = Run.objects.for_tenant(tenant).get(analysis=Run.Analysis.TIMESERIES)
    assert series.status == Run.Status.SUCCEEDED, series.error
    # the planted spikes, level shift and noisy interval, in the three sensors that have them
    assert {i["series"] for i in series.summary["timeseries"]["intervals"]} == {
        "sensor-a", "sensor-b", "sensor-c",
    }  # fmt: skip
    assert series.metrics["roc_auc"] > 0.95
    run = Run.objects.for_tenant(tenant).get(analysis=Run.Analysis.TABLE)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.summary["rows"] == 5000
    assert run.metrics["roc_auc"] > 0.8  # the injected fraud is findable


def test_seeding_queues_the_demo_runs_for_the_worker_and_they_finish_there(
    db, media, capsys, django_capture_on_commit_callbacks
):
    from pynomaly_web.celery import app

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        call_command("seed_demo")
    out = capsys.readouterr().out
    runs = Run.objects.for_tenant(Tenant.objects.get(slug="demo"))
    # the command returns with the runs waiting: the server starts without waiting for them
    assert sorted(r.status for r in runs) == [Run.Status.QUEUED] * 3
    assert out.count("queued on") == 3 and "the worker runs it" in out

    # what a worker does with the enqueued messages (here: executed eagerly in this process)
    app.conf.task_always_eager = True
    try:
        for callback in enqueued:
            callback()
    finally:
        app.conf.task_always_eager = False
    assert sorted(r.status for r in runs.all()) == [Run.Status.SUCCEEDED] * 3


def test_seeding_twice_changes_nothing(db, media, capsys):
    call_command("seed_demo")
    counts = (
        Dataset.objects.count(), DetectorConfig.objects.count(), Run.objects.count(),
        Source.objects.count(),
    )  # fmt: skip
    call_command("seed_demo")
    assert (
        Dataset.objects.count(), DetectorConfig.objects.count(), Run.objects.count(),
        Source.objects.count(),
    ) == counts  # fmt: skip
    assert "already there" in capsys.readouterr().out
