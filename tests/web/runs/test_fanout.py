"""A large run scored in parts (apps.runs.fanout) gives exactly the one-worker results.

Here the run's task runs in this process and no worker takes the part tasks, so the task
scores every part itself, as it does with one worker process; the parts' tasks go to a queue
of this test's, purged afterwards. tests/integration/test_fanout_workers.py spreads a run
over two real worker processes.
"""

import os

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

from apps.runs import fanout
from apps.runs.models import Run
from apps.runs.tasks import _Execution, execute_run
from tests.conftest import delete_broker_queue

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")

ROWS, FIT_ROWS, CHUNK, PART = 3000, 1000, 250, 1000  # 3 parts of 4 chunks


@pytest.fixture
def part_queue(settings):
    from pynomaly_web.celery import app

    settings.RUN_FANOUT_QUEUE = name = f"fanout-parts-{os.getpid()}"
    settings.RUN_CHUNK_ROWS = CHUNK
    yield name
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(name)
    delete_broker_queue(name)


def _run(tenant, user, version, config, settings, *, part_rows):
    settings.RUN_FANOUT_PART_ROWS = part_rows
    run = make_run(tenant, user, version, config, label_column="is_anomaly", max_fit_rows=FIT_ROWS)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def _results(run) -> pd.DataFrame:
    return pd.read_parquet(run.results.path).sort_values("row_id").reset_index(drop=True)


@pytest.mark.parametrize("detectors", [(("iforest", {}),), (("ecod", {}),), (("knn", {}),)])
def test_a_run_scored_in_parts_gives_the_one_worker_results(
    alice, tenant_a, settings, part_queue, detectors
):
    version = make_version(tenant_a, blobs(ROWS, anomalies=60))
    config = make_config(tenant_a, alice, detectors=detectors)
    whole = _run(tenant_a, alice, version, config, settings, part_rows=0)
    parts = _run(tenant_a, alice, version, config, settings, part_rows=PART)
    assert whole.status == parts.status == Run.Status.SUCCEEDED, (whole.error, parts.error)

    assert "fanout" not in whole.summary
    assert parts.summary["fanout"] == {"parts": 3, "workers": 1}
    pd.testing.assert_frame_equal(_results(parts), _results(whole))  # scores, labels, contributions
    assert parts.threshold == whole.threshold
    untimed = [
        {k: v for k, v in r.summary["explanation"].items() if k != "seconds"}
        for r in (parts, whole)
    ]
    assert untimed[0] == untimed[1]
    # nothing of the spread is left behind: no stored parts, no claims
    assert os.listdir(os.path.join(settings.MEDIA_ROOT, "fanout")) == []


def test_a_part_whose_holder_died_is_scored_by_the_runs_task(
    alice, tenant_a, settings, part_queue, monkeypatch
):
    version = make_version(tenant_a, blobs(ROWS, anomalies=60))
    config = make_config(tenant_a, alice)
    whole = _run(tenant_a, alice, version, config, settings, part_rows=0)

    token = "deadholder" + os.urandom(4).hex()
    monkeypatch.setattr(fanout, "_new_token", lambda: token)
    # a worker took part 1 and died: its claim is never beaten again and lapses after 2 s
    assert cache.add(fanout._key(token, "c1"), "elsewhere:1", timeout=2)
    parts = _run(tenant_a, alice, version, config, settings, part_rows=PART)

    assert parts.status == Run.Status.SUCCEEDED, parts.error
    assert parts.summary["fanout"] == {"parts": 3, "workers": 1}
    assert parts.timings["scoring"] >= 1.5  # it waited for the claim to lapse
    pd.testing.assert_frame_equal(_results(parts), _results(whole))


def test_cancelling_a_run_while_a_worker_holds_a_part_ends_it_cancelled_and_cleans_up(
    alice, tenant_a, settings, part_queue, monkeypatch
):
    version = make_version(tenant_a, blobs(ROWS, anomalies=60))
    config = make_config(tenant_a, alice)
    token = "cancelled" + os.urandom(4).hex()
    monkeypatch.setattr(fanout, "_new_token", lambda: token)
    # part 2 is held by a live worker (a long claim) when the user cancels
    assert cache.add(fanout._key(token, "c2"), "elsewhere:1", timeout=60)
    # the cancel is requested once the parts are out (a real cancel sets the run's flag)
    monkeypatch.setattr(
        _Execution, "should_stop", lambda self: cache.get(fanout._key(token, "open")) is not None
    )
    run = _run(tenant_a, alice, version, config, settings, part_rows=PART)

    assert run.status == Run.Status.CANCELLED, run.error
    assert cache.get(fanout._key(token, "open")) is None
    assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, "fanout", token))
    cache.delete(fanout._key(token, "c2"))


def test_a_part_task_scores_its_rows_into_storage_only_while_the_spread_is_open(
    alice, tenant_a, settings, part_queue
):
    from django.core.files.storage import default_storage

    from pynomaly import distributed, persist
    from pynomaly.detect import PipelineConfig, fit

    frame = blobs(ROWS, anomalies=60, label=False)
    version = make_version(tenant_a, frame)
    config = make_config(tenant_a, alice)
    run = make_run(tenant_a, alice, version, config)
    fitted = fit(frame, PipelineConfig.from_dict(config.current.pipeline))
    path = os.path.join(settings.MEDIA_ROOT, "fanout", "t-part", "model.skops")
    os.makedirs(os.path.dirname(path))
    sha256 = persist.save(fitted, path)
    task = dict(
        run_id=run.pk, token="t-part", index=1, start=1000, stop=2000, chunk=CHUNK,
        model_name="fanout/t-part/model.skops", sha256=sha256,
    )  # fmt: skip

    assert fanout.score_part(**task) == "over"  # no open spread: nothing is loaded or written
    cache.set(fanout._key("t-part", "open"), 1, timeout=60)
    try:
        assert fanout.score_part(**task) == "scored"
        name = cache.get(fanout._key("t-part", "d1"))
        with default_storage.open(name, "rb") as fh:
            piece = distributed.read_piece(fh, rows=1000, detectors=1)
        expected = fitted.score(frame.iloc[1000:2000], chunk_size=CHUNK)
        np.testing.assert_array_equal(fitted.result_of(piece.raw, None).scores, expected.scores)
        assert fanout.score_part(**task) == "done"  # a second delivery does nothing
        cache.delete(fanout._key("t-part", "d1"))
        assert fanout.score_part(**task) == "taken"  # its claim is held (for a minute)
    finally:
        cache.delete_many([fanout._key("t-part", k) for k in ("open", "c1", "d1")])


def test_a_detector_without_a_safe_saved_form_is_scored_in_the_runs_own_task(
    alice, tenant_a, settings, part_queue
):
    # LMDD has no saved form the parts' workers could load (catalogue: not saveable)
    settings.RUN_FANOUT_PART_ROWS = 400
    version = make_version(tenant_a, blobs(1200, anomalies=20))
    config = make_config(tenant_a, alice, detectors=(("lmdd", {}),))
    run = make_run(tenant_a, alice, version, config, label_column="is_anomaly", max_fit_rows=400)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "fanout" not in run.summary
    assert len(_results(run)) == 1200
