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
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "demo@pynomaly.local / pynomaly-demo" in out

    tenant = Tenant.objects.get(slug="demo")
    assert Membership.objects.get(tenant=tenant, user__email="demo@pynomaly.local").role == "owner"
    datasets = Dataset.objects.for_tenant(tenant)
    assert sorted(d.status for d in datasets) == ["ready", "ready", "ready"]
    # the two demo files, and the first pull of the demo source (two days of minutes)
    assert {d.latest_version.rows for d in datasets} == {10080, 5000, 2880}
    source = Source.objects.for_tenant(tenant).get()
    assert source.watermark_value == "2880" and source.dataset.latest_version.rows == 2880
    configs = DetectorConfig.objects.for_tenant(tenant)
    assert configs.count() == 3
    assert configs.get(name="Automatic").current.detector_keys == ["auto"]

    run = Run.objects.for_tenant(tenant).get()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.summary["rows"] == 5000
    assert run.metrics["roc_auc"] > 0.8  # the injected fraud is findable


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
