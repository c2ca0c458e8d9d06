"""In a real Chromium: a graph run's results page draws the graph view and lists the nodes."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def graph_run(settings, tmp_path, alice, tenant_a):
    """A DOMINANT run on a small planted graph, uploaded as nodes + edges, run in-process."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    from apps.datasets.services import dataset_create_from_path
    from apps.runs.models import Run
    from apps.runs.services import run_start
    from apps.runs.tasks import execute_run
    from pynomaly.graph_demo import social_graph
    from tests.web.runs.factories import make_config

    nodes, edges = social_graph(nodes=150, communities=3, cliques=1, clique_size=6, contextual=6)
    nodes.to_csv(tmp_path / "nodes.csv", index=False)
    edges.to_csv(tmp_path / "edges.csv", index=False)
    upload = dataset_create_from_path(
        tenant=tenant_a, user=alice, path=tmp_path / "nodes.csv",
        edges_path=tmp_path / "edges.csv", name="social", ingest_now=True,
    )  # fmt: skip
    assert upload.version is not None, upload.error
    config = make_config(
        tenant_a, alice, name="dominant", detectors=(("dominant", {"epochs": 5}),),
        threshold=("contamination", 0.1),
    )  # fmt: skip
    run = run_start(
        tenant=tenant_a, user=alice, dataset_version=upload.version,
        detector_version=config.current, label_column="is_anomaly",
    )  # fmt: skip
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def test_the_graph_view_and_the_flagged_nodes_are_shown(graph_run, asgi_server, page):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, "alice@example.com")
    run = graph_run
    page.goto(f"{asgi_server.url}/t/{run.tenant.slug}/runs/{run.pk}/results/")
    page.locator("#chart-graph svg.main-svg").first.wait_for(timeout=20_000)
    # two scatter traces: the edge lines and the nodes (flagged ones outlined)
    assert page.locator("#chart-graph g.trace.scatter").count() == 2
    assert page.locator("#chart-graph g.trace.scatter path.point").count() >= 15
    assert "top anomalies and their neighbourhood" in page.locator("#chart-graph").inner_text()
    assert "150 nodes" in page.locator("#graph-view").inner_text()
    table = page.locator("#anomalies-table")
    assert table.locator("tbody tr").count() == 15
    text = table.inner_text()
    assert "u0" in text  # node ids (the nodes table's id column)
    assert "structure" in text or "feature" in text  # the reasons
    assert errors == []
