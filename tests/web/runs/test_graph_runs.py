"""Runs on a graph dataset: node scores, reasons, a saved model that scores the same, the page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from apps.datasets.services import dataset_create_from_path
from apps.detectors.models import TrainedModel
from apps.runs.models import Run
from apps.runs.rules import RunInvalid, run_start_check
from apps.runs.services import run_start
from apps.runs.tasks import execute_run
from pynomaly import graph
from pynomaly.graph_data import read_graph
from pynomaly.graph_demo import social_graph

from .factories import blobs, make_config, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def graph_version(tenant_a, alice, tmp_path):
    nodes, edges = social_graph(nodes=150, communities=3, cliques=1, clique_size=6, contextual=6)
    nodes.to_csv(tmp_path / "nodes.csv", index=False)
    edges.to_csv(tmp_path / "edges.csv", index=False)
    upload = dataset_create_from_path(
        tenant=tenant_a,
        user=alice,
        path=tmp_path / "nodes.csv",
        edges_path=tmp_path / "edges.csv",
        name="social",
        ingest_now=True,
    )
    assert upload.status == "done", upload.error
    return upload.version


def _start(tenant, user, version, key="dominant", **params):
    config = make_config(
        tenant,
        user,
        name=key,
        detectors=((key, {"epochs": 5, **params}),),
        threshold=("contamination", 0.1),
    )
    run = run_start(
        tenant=tenant,
        user=user,
        dataset_version=version,
        detector_version=config.current,
        label_column="is_anomaly",
    )
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_a_graph_run_scores_every_node_with_structure_and_feature_reasons(
    alice, tenant_a, graph_version
):
    run = _start(tenant_a, alice, graph_version)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.analysis == Run.Analysis.GRAPH
    df = pd.read_parquet(run.results.path)
    assert len(df) == 150 and df["node_id"].iloc[0] == "u0000"
    assert {"contrib:structure", "contrib:feature"} <= set(df.columns)
    assert df["label"].sum() == run.summary["anomalies"] == 15
    assert run.summary["graph"]["edges"] == graph_version.graph["edges"]
    assert sum(run.summary["graph"]["reasons"].values()) == 15
    assert "is_anomaly" not in run.summary["feature_names"]
    assert 0 <= run.metrics["roc_auc"] <= 1


def test_the_saved_graph_model_reloads_and_scores_the_nodes_identically(
    alice, tenant_a, graph_version
):
    run = _start(tenant_a, alice, graph_version)
    model = TrainedModel.objects.get(run=run)
    assert model.artifact.name.endswith(".pt")
    fitted = graph.load(model.artifact.path, sha256=model.sha256)
    stored = read_graph(graph_version.parquet.path, graph_version.edges.path, id_column="id")
    stored.nodes = stored.nodes.drop(columns=["is_anomaly"])
    again = fitted.score(stored)
    assert np.array_equal(again.scores, pd.read_parquet(run.results.path)["score"].to_numpy())


def test_a_run_with_the_trained_model_gives_the_same_scores(alice, tenant_a, graph_version):
    first = _start(tenant_a, alice, graph_version, key="cola")
    model = TrainedModel.objects.get(run=first)
    second = run_start(
        tenant=tenant_a,
        user=alice,
        dataset_version=graph_version,
        detector_version=first.detector_version,
        label_column="is_anomaly",
        scoring_model=model,
    )
    execute_run(second.pk)
    second.refresh_from_db()
    assert second.status == Run.Status.SUCCEEDED, second.error
    a = pd.read_parquet(first.results.path)["score"].to_numpy()
    b = pd.read_parquet(second.results.path)["score"].to_numpy()
    assert np.array_equal(a, b)


def test_a_weak_detector_runs_with_its_measured_warning_and_keeps_no_model(
    alice, tenant_a, graph_version
):
    config = make_config(tenant_a, alice, name="scan", detectors=(("scan_graph", {}),))
    run = run_start(
        tenant=tenant_a, user=alice, dataset_version=graph_version, detector_version=config.current
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert any("SCAN is weak" in w for w in run.summary["warnings"])
    assert not TrainedModel.objects.filter(run=run).exists()


def test_graph_and_table_detectors_stay_with_their_own_kind_of_data(alice, tenant_a, graph_version):
    forest = make_config(tenant_a, alice, name="forest")
    with pytest.raises(RunInvalid, match="This dataset is a graph"):
        run_start_check(dataset_version=graph_version, detector_version=forest.current)
    dominant = make_config(tenant_a, alice, name="dom", detectors=(("dominant", {}),))
    table = make_version(tenant_a, blobs(50))
    with pytest.raises(RunInvalid, match="Graph detectors score the nodes of a graph"):
        run_start_check(dataset_version=table, detector_version=dominant.current)


def test_the_cost_guard_stops_a_dense_detector_on_a_large_graph(alice, tenant_a, graph_version):
    graph_version.graph = {**graph_version.graph, "nodes": 5000}
    heavy = make_config(tenant_a, alice, name="dae", detectors=(("anomalydae", {"epochs": 300}),))
    with pytest.raises(RunInvalid) as refused:
        run_start_check(dataset_version=graph_version, detector_version=heavy.current)
    assert refused.value.errors[0][0] == "accept_cost"
    assert "5,000 nodes" in " ".join(refused.value.estimate.warnings)


def test_the_results_page_shows_the_graph_view_and_the_flagged_nodes(
    alice, alice_client, tenant_a, graph_version
):
    run = _start(tenant_a, alice, graph_version)
    page = alice_client.get(run.url("results")).content.decode()
    assert 'id="graph-view"' in page and 'id="chart-graph"' in page
    from .test_results_fixtures import figure_in

    graph = figure_in(alice_client, page, "chart-graph")
    assert "the top anomalies and their neighbourhood" in json.dumps(graph)
    assert "u0" in page  # node ids in the flagged table
    assert "structure" in page and "feature" in page


def test_the_run_form_starts_a_graph_run_and_refuses_a_table_detector_for_a_graph(
    alice, alice_client, tenant_a, graph_version, monkeypatch
):
    from django.urls import reverse

    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)
    start = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})
    forest = make_config(tenant_a, alice, name="forest")
    refused = alice_client.post(start, {"dataset_version": graph_version.pk, "detector": forest.pk})
    assert refused.status_code == 400
    assert "This dataset is a graph" in refused.content.decode()
    guide = make_config(tenant_a, alice, name="guide", detectors=(("guide", {"epochs": 5}),))
    ok = alice_client.post(start, {"dataset_version": graph_version.pk, "detector": guide.pk})
    assert ok.status_code == 302, ok.content.decode()[:2000]
    run = Run.objects.get(detector_version=guide.current)
    assert run.analysis == Run.Analysis.GRAPH and run.analysis_options == {"id_column": "id"}


def test_choosing_a_graph_dataset_preselects_a_graph_detector(
    alice, alice_client, tenant_a, graph_version
):
    from django.urls import reverse

    make_config(tenant_a, alice, name="a forest")
    cola = make_config(tenant_a, alice, name="b cola", detectors=(("cola", {}),))
    start = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})
    page = alice_client.get(start, {"dataset_version": graph_version.pk}).content.decode()
    assert f'<option value="{cola.pk}" selected>' in page


def test_the_csv_download_of_a_graph_run_names_the_nodes(
    alice, alice_client, tenant_a, graph_version
):
    run = _start(tenant_a, alice, graph_version, key="dominant")
    body = b"".join(alice_client.get(run.url("download_csv")).streaming_content).decode()
    import csv
    import io

    header, first = list(csv.reader(io.StringIO(body)))[:2]
    assert header[:6] == ["row_id", "node_id", "score", "severity", "predicted_anomaly", "reasons"]
    assert first[1] == "u0000"
