"""Monitor tests: stored files in a temporary folder, tasks run in-process when they are sent."""

from __future__ import annotations

import pytest

from tests.web.runs.factories import blobs, make_config, make_version


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    return tmp_path / "media"


@pytest.fixture
def inline_tasks(monkeypatch, media, django_capture_on_commit_callbacks):
    """Tasks sent after commit run at once, in this process (nested commits included).

    Yields a context-manager factory: ``with inline_tasks(): ...`` runs what the block sends.
    """
    from apps.monitors import tasks as monitor_tasks
    from apps.runs import tasks as run_tasks

    monkeypatch.setattr(
        run_tasks.execute_run,
        "apply_async",
        lambda args, task_id=None: run_tasks.execute_run(*args),
    )
    monkeypatch.setattr(monitor_tasks.execute_monitor, "delay", monitor_tasks.execute_monitor)
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def config(alice, tenant_a):
    return make_config(tenant_a, alice)


@pytest.fixture
def version(tenant_a, alice, media):
    return make_version(tenant_a, blobs(300, label=False), user=alice)


def add_version(dataset, df):
    """The dataset's next version holding ``df`` (as an ingested upload leaves it)."""
    import uuid
    from pathlib import Path

    from django.conf import settings

    from apps.datasets.models import DatasetVersion
    from pynomaly.data import write_parquet

    name = f"datasets/parquet/{uuid.uuid4().hex}.parquet"
    full = Path(settings.MEDIA_ROOT) / name
    full.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(df, full)
    return DatasetVersion.objects.create(
        tenant=dataset.tenant,
        dataset=dataset,
        number=dataset.versions.count() + 1,
        sha256=uuid.uuid4().hex,
        original=name,
        original_name="data.parquet",
        format="parquet",
        size=full.stat().st_size,
        parquet=name,
        rows=len(df),
        columns=df.shape[1],
        schema=[{"name": str(c), "dtype": str(t)} for c, t in df.dtypes.items()],
    )
