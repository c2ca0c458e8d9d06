"""A monitor on a real PostgreSQL / MariaDB table: each execution pulls only the new rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from apps.detectors.services import detector_config_create
from apps.monitors.models import MonitorExecution
from apps.monitors.services import MonitorInput, monitor_create, monitor_trigger
from apps.sources.services import source_create
from pynomaly.detect import PipelineConfig
from tests.web.sources.conftest import maria_db, pg_db, remote_db  # noqa: F401 - fixtures

_tables = itertools.count()
Status = MonitorExecution.Status


def _insert(db, table, rows: np.ndarray) -> None:
    db.executemany(
        f"INSERT INTO {table} (a, b, c) VALUES (%s, %s, %s)", [tuple(map(float, r)) for r in rows]
    )


@pytest.fixture
def table(remote_db):  # noqa: F811
    name = f"monitored_{next(_tables)}"
    auto = (
        "SERIAL PRIMARY KEY" if remote_db.kind == "postgresql" else "INT AUTO_INCREMENT PRIMARY KEY"
    )
    remote_db.execute(
        f"CREATE TABLE {name} (id {auto}, a DOUBLE PRECISION, b DOUBLE PRECISION, c DOUBLE PRECISION)"
    )
    return remote_db, name


def test_each_execution_scores_only_the_new_rows_and_sees_a_drifted_column(
    alice, tenant_a, table, inline_tasks
):
    db, name = table
    rng = np.random.default_rng(0)
    _insert(db, name, rng.normal(size=(400, 3)))
    source = source_create(
        tenant=tenant_a,
        user=alice,
        data={"name": f"src-{name}", "url": db.url(), "table": name, "watermark_column": "id"},
    )
    pipeline = PipelineConfig.from_dict(
        {"detectors": [{"key": "iforest", "params": {}}], "exclude_columns": ["id"],
         "threshold": {"kind": "contamination", "value": 0.02}}
    ).to_dict()  # fmt: skip
    config = detector_config_create(tenant=tenant_a, user=alice, name="no-id", pipeline=pipeline)
    monitor = monitor_create(
        tenant=tenant_a,
        user=alice,
        data=MonitorInput(
            name="table", source=source, detector_version=config.current, interval_seconds=60
        ),
    )

    def execute() -> MonitorExecution:
        with inline_tasks():
            execution = monitor_trigger(monitor=monitor, trigger="schedule")
        execution.refresh_from_db()
        return execution

    first = execute()
    assert first.status == Status.SUCCEEDED, first.error
    assert first.rows == 400 and first.retrained

    assert execute().status == Status.SKIPPED  # nothing past the watermark

    new = rng.normal(size=(200, 3))
    new[:, 1] = new[:, 1] * 3 + 4  # b drifts
    new[:5] = 50.0  # five rows far from anything seen
    _insert(db, name, new)
    third = execute()
    assert third.status == Status.SUCCEEDED, third.error
    assert third.rows == 200 and not third.retrained and third.run.scoring_model_id
    assert third.drift["drifted"] == ["b"] and "id" not in third.drift["features"]
    assert third.anomalies >= 5 and third.max_severity == 100.0
