"""A bake-off through the real stack: SDK → API → Celery worker → leaderboard → comparison,
and the CLI against the same server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.runs.factories import blobs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def write_token(alice, tenant_a):
    from apps.api.services import token_create

    _token, raw = token_create(user=alice, tenant=tenant_a, name="bake-off", scope="write")
    return raw


def test_a_bake_off_runs_on_the_worker_and_the_leaderboard_and_comparison_follow(
    live_media, asgi_server, celery_worker, write_token, tmp_path
):
    from pynomaly.client import Client

    data = tmp_path / "blobs.csv"
    frame = blobs(500, anomalies=25)
    # Blur the planted anomalies so the detectors differ (far blobs are found by every one).
    frame.loc[:24, ["a", "b", "c"]] -= 5.5
    frame.to_csv(data, index=False)
    with Client(asgi_server.url, write_token) as api:
        dataset = api.datasets.upload(data, name="blobs", progress=False).wait(poll=0.2, timeout=60)
        runs = api.comparisons.bakeoff(
            dataset.id, detectors=["iforest", "knn"], label_column="is_anomaly"
        )
        assert len(runs) == 2
        board = api.comparisons.leaderboard(dataset.id, wait=True, poll=0.5, timeout=180)

        assert board.labelled is True and board.pending == 0
        assert {e["run_id"] for e in board.entries} == {r.id for r in runs}
        best, second = board.entries
        assert best["roc_auc"]["low"] <= best["roc_auc"]["value"] <= best["roc_auc"]["high"]
        assert second["vs_best"]["roc_auc_p"] is not None

        comparison = api.comparisons.compare(second["run_id"], best["run_id"])
        assert comparison.labelled is True
        assert comparison.sentence.endswith(").") and "on ROC-AUC (" in comparison.sentence
        assert comparison.roc_auc["test"]["method"] == "DeLong"

    config_file = tmp_path / "pynomaly.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(config_file)}

    def pynomaly(*args):
        return subprocess.run([sys.executable, "-m", "pynomaly", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert pynomaly("login", asgi_server.url, "--token", write_token).returncode == 0
    out = pynomaly("compare", str(second["run_id"]), str(best["run_id"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == comparison.sentence
    out = pynomaly("bakeoff", str(dataset.id), "-d", "iforest", "-d", "knn", "--wait", "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["entries"]) == 4  # the first two runs and these two
