"""Graphs over the API: upload nodes + edges, start a run on the graph, read its node scores."""

from __future__ import annotations

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import Dataset
from apps.datasets.tasks import ingest
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly.graph_demo import social_graph
from tests.web.runs.factories import make_config

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)
    monkeypatch.setattr("apps.datasets.tasks.ingest.delay", lambda *a, **k: None)


def _upload(api, edges_csv: str | None = None, name="social"):
    nodes, edges = social_graph(nodes=100, communities=2, cliques=1, clique_size=5, contextual=4)
    return api.post(
        "/datasets",
        data={
            "name": name,
            "file": SimpleUploadedFile("nodes.csv", nodes.to_csv(index=False).encode()),
            "edges": SimpleUploadedFile(
                "edges.csv", (edges_csv or edges.to_csv(index=False)).encode()
            ),
        },
    )


def test_a_graph_uploaded_over_the_api_runs_and_answers_node_scores(alice_api, alice, tenant_a):
    r = _upload(alice_api)
    assert r.status_code == 202, r.content
    dataset = Dataset.objects.get(pk=r.json()["id"])
    ingest(dataset.uploads.get().pk)
    versions = alice_api.get(f"/datasets/{dataset.pk}/versions").json()["items"]
    assert versions[0]["kind"] == "graph" and versions[0]["graph"]["nodes"] == 100
    config = make_config(tenant_a, alice, name="dom", detectors=(("dominant", {"epochs": 5}),))
    started = alice_api.post(
        "/runs",
        json={
            "dataset_id": dataset.pk,
            "detector_config_id": config.pk,
            "label_column": "is_anomaly",
        },
    )
    assert started.status_code == 202, started.content
    assert started.json()["analysis"] == "graph"
    execute_run(started.json()["id"])
    body = alice_api.get(f"/runs/{started.json()['id']}").json()
    assert body["status"] == "succeeded", body["error"]
    assert body["summary"]["rows"] == 100 and body["summary"]["graph"]["parts"] == [
        "structure",
        "feature",
    ]
    assert "roc_auc" in body["metrics"]
    assert body["trained_model_id"] is not None
    run = Run.objects.get(pk=body["id"])
    assert pd.read_parquet(run.results.path)["node_id"].str.startswith("u").all()


def test_a_table_detector_on_a_graph_is_refused_naming_the_detector_field(
    alice_api, alice, tenant_a
):
    r = _upload(alice_api)
    dataset = Dataset.objects.get(pk=r.json()["id"])
    ingest(dataset.uploads.get().pk)
    forest = make_config(tenant_a, alice, name="forest")
    body = assert_problem(
        alice_api.post("/runs", json={"dataset_id": dataset.pk, "detector_config_id": forest.pk}),
        422,
    )
    assert "This dataset is a graph" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "detector_config_id"]


def test_a_dangling_graph_is_refused_as_problem_json_with_counts(alice_api):
    body = assert_problem(_upload(alice_api, "source,target\nu0000,u0001\nu0000,nobody\n"), 422)
    assert "1 edges point to nodes that are not in the nodes table" in body["detail"]
    assert not Dataset.objects.exists()
