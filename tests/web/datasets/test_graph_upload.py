"""Graph datasets: nodes + edges uploaded together, checked as a graph before they are accepted."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import Dataset, DatasetVersion, Upload

from .helpers import ingest_latest, upload_url, url

NODES = "id,age,spend\na,30,1.5\nb,41,2.0\nc,25,0.5\nd,52,9.0\n"
EDGES = "source,target\na,b\nb,c\nc,a\nc,d\n"


def _post(
    client,
    tenant,
    nodes=NODES,
    edges=EDGES,
    name="friends",
    nodes_name="nodes.csv",
    edges_name="edges.csv",
):
    data = {"name": name, "file": SimpleUploadedFile(nodes_name, nodes.encode())}
    if edges is not None:
        data["edges"] = SimpleUploadedFile(edges_name, edges.encode())
    return client.post(upload_url(tenant), data)


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_nodes_and_edges_become_one_graph_version_with_counts_and_degrees(alice_client, tenant_a):
    response = _post(alice_client, tenant_a)
    assert response.status_code == 302, response.content.decode()
    upload = ingest_latest()
    assert upload.status == Upload.Status.DONE, upload.error
    version = Dataset.objects.get(tenant=tenant_a, name="friends").latest_version
    assert version.is_graph and version.format == "graph"
    assert (version.rows, version.columns) == (4, 3)
    assert version.graph["nodes"] == 4 and version.graph["edges"] == 4
    assert version.graph["degree"] == {
        "min": 1,
        "mean": 2.0,
        "median": 2.0,
        "max": 3,
        "isolated": 0,
    }
    edges = pd.read_parquet(version.edges.path)
    assert list(edges.columns) == ["source", "target"] and len(edges) == 4
    page = alice_client.get(url("detail", tenant_a, pk=version.dataset_id)).content.decode()
    assert "4 nodes · 4 edges" in page
    assert "max 3" in page


def test_the_same_two_files_again_are_recognised_as_the_same_version(alice_client, tenant_a):
    _post(alice_client, tenant_a)
    ingest_latest()
    _post(alice_client, tenant_a)
    upload = ingest_latest()
    assert upload.status == Upload.Status.DUPLICATE
    assert DatasetVersion.objects.filter(dataset__name="friends").count() == 1


def test_a_zip_with_nodes_and_an_edge_list_is_a_graph(alice_client, tenant_a):
    archive = _zip({"graph/nodes.csv": NODES, "graph/edges.edgelist": "a b\nb c\n# note\nc d\n"})
    response = alice_client.post(
        upload_url(tenant_a), {"name": "", "file": SimpleUploadedFile("social.zip", archive)}
    )
    assert response.status_code == 302, response.content.decode()
    upload = ingest_latest()
    assert upload.status == Upload.Status.DONE, upload.error
    assert upload.version.graph["edges"] == 3 and upload.version.dataset.name == "social"


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        (
            "source,target\na,b\nb,zz\nq,a\n",
            "2 edges point to nodes that are not in the nodes table",
        ),
        ("source,target\na,b\nc,c\nd,d\n", "2 edges are self-loops"),
        ("source,target\na,b\nb,a\nc,d\nc,d\n", "2 edges repeat an earlier edge"),
    ],
    ids=["dangling", "self-loop", "duplicates"],
)
def test_a_broken_graph_is_refused_with_counts_and_nothing_is_stored(
    alice_client, tenant_a, media, edges, expected
):
    response = _post(alice_client, tenant_a, edges=edges)
    assert response.status_code == 400
    text = response.content.decode()
    assert expected in text
    assert not Dataset.objects.filter(tenant=tenant_a).exists()
    assert not any(p.is_file() for p in media.rglob("*"))


def test_duplicate_node_ids_are_refused(alice_client, tenant_a):
    response = _post(alice_client, tenant_a, nodes=NODES + "a,1,1\n")
    assert response.status_code == 400
    assert "node ids are repeated" in response.content.decode()


def test_a_graph_over_the_node_limit_is_refused_with_422(alice_client, tenant_a, settings):
    settings.PYNOMALY_GRAPH_MAX_NODES = 3
    response = _post(alice_client, tenant_a)
    assert response.status_code == 422
    assert "the limit is 3" in response.content.decode()


def test_a_graph_over_the_edge_limit_is_refused_with_422(alice_client, tenant_a, settings):
    settings.PYNOMALY_GRAPH_MAX_EDGES = 2
    response = _post(alice_client, tenant_a)
    assert response.status_code == 422
    assert "edges" in response.content.decode() and "the limit is 2" in response.content.decode()


def test_a_zip_without_an_edges_file_says_what_it_needs(alice_client, tenant_a):
    archive = _zip({"nodes.csv": NODES})
    response = alice_client.post(
        upload_url(tenant_a), {"file": SimpleUploadedFile("g.zip", archive)}
    )
    assert response.status_code == 400
    assert "has no edges file" in response.content.decode()
