"""End to end over the API with a real Celery worker: upload → ingest → configure → run → results → CSV."""

from __future__ import annotations

import csv
import io
import time

import numpy as np

from .conftest import Api, make_token


def _wait(api: Api, path: str, done, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(path).json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_client_uploads_configures_runs_and_reads_results_with_a_real_worker(
    celery_worker, alice, tenant_a
):
    api = Api(make_token(alice, tenant_a)[1])
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(300, 3))
    rows[:10] += 9
    text = "x,y,z\n" + "".join(f"{a:.5f},{b:.5f},{c:.5f}\n" for a, b, c in rows)
    upload = api.put("/datasets/stream?name=metrics&filename=metrics.csv", text.encode())
    assert upload.status_code == 202, upload.content
    dataset = _wait(api, f"/datasets/{upload.json()['id']}", lambda d: d["status"] != "ingesting")
    assert dataset["status"] == "ready", dataset
    assert dataset["latest_version"]["rows"] == 300

    config = api.post(
        "/detector-configs",
        json={
            "name": "forest",
            "pipeline": {
                "detectors": [{"key": "iforest", "params": {"n_estimators": 60}}],
                "threshold": {"kind": "top_k", "value": 10},
            },
        },
    )
    assert config.status_code == 201, config.content

    run = api.post(
        "/runs", json={"dataset_id": dataset["id"], "detector_config_id": config.json()["id"]}
    )
    assert run.status_code == 202, run.content
    final = _wait(
        api,
        f"/runs/{run.json()['id']}",
        lambda r: r["status"] in ("succeeded", "failed", "cancelled"),
    )
    assert final["status"] == "succeeded", final["error"]
    assert final["percent"] == 100 and final["rows_done"] == 300 and final["trained_model_id"]

    first = api.get(f"/runs/{final['id']}/results", {"limit": 10, "only_anomalies": "true"}).json()
    assert sorted(r["row_id"] for r in first["items"]) == list(range(10))
    assert first["next_cursor"] is None
    everything, cursor = [], None
    while True:
        page = api.get(
            f"/runs/{final['id']}/results", {"limit": 100, **({"cursor": cursor} if cursor else {})}
        ).json()
        everything += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(everything) == 300 and len({r["row_id"] for r in everything}) == 300

    download = api.get(f"/runs/{final['id']}/results/download")
    table = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len(table) == 300 and sum(int(r["predicted_anomaly"]) for r in table) == 10

    scored = api.post(
        f"/models/{final['trained_model_id']}/score",
        json={"records": [{"x": 9, "y": 9, "z": 9}, {"x": 0, "y": 0, "z": 0}]},
    )
    assert scored.status_code == 200 and scored.json()["labels"] == [1, 0]
