"""A run in the platform scores exactly as the engine (and so the CLI) does on the same data."""

import numpy as np
import pandas as pd
import pytest

from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly.detect import PipelineConfig, detect

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.mark.parametrize(
    "detectors, rows",
    [
        ((("ecod", {}),), 120_000),  # more rows than one default chunk: ECOD depends on chunking
        ((("iforest", {}),), 3000),
        ((("ecod", {}), ("hbos", {})), 3000),
    ],
)
def test_the_platform_gives_the_engines_scores_labels_and_threshold(
    alice, tenant_a, detectors, rows
):
    frame = blobs(rows, anomalies=40, label=True)
    version = make_version(tenant_a, frame)
    config = make_config(tenant_a, alice, detectors=detectors)
    run = make_run(tenant_a, alice, version, config, label_column="is_anomaly")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error

    pipeline = PipelineConfig.from_dict(config.current.pipeline)
    pipeline = PipelineConfig.from_dict({**pipeline.to_dict(), "exclude_columns": ["is_anomaly"]})
    _, engine = detect(frame, pipeline)

    platform = pd.read_parquet(run.results.path).sort_values("row_id")
    np.testing.assert_array_equal(platform["score"].to_numpy(), engine.scores)
    np.testing.assert_array_equal(platform["label"].to_numpy(), engine.labels)
    assert run.threshold == engine.threshold


def test_the_worker_writes_the_engines_results_table_with_contributions(alice, tenant_a):
    import pyarrow.parquet as pq

    from pynomaly import results

    frame = blobs(500, anomalies=10, label=True)
    version = make_version(tenant_a, frame)
    config = make_config(tenant_a, alice, detectors=(("ecod", {}),))
    run = make_run(tenant_a, alice, version, config, label_column="is_anomaly")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error

    pipeline = PipelineConfig.from_dict(config.current.pipeline)
    pipeline = PipelineConfig.from_dict({**pipeline.to_dict(), "exclude_columns": ["is_anomaly"]})
    _, engine = detect(frame, pipeline)

    platform = pq.read_table(run.results.path)
    assert [c for c in platform.column_names if c.startswith("contrib:")] == [
        "contrib:a",
        "contrib:b",
        "contrib:c",
    ]
    assert platform.equals(results.table(engine))
