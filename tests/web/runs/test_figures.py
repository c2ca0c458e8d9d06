"""The results charts' own URLs: cacheable JSON, decimated for the screen, tenant-scoped, and
cached at two levels (the process, then Redis) under keys that change with the run's state."""

from __future__ import annotations

import html as html_lib
import json
import re

import numpy as np
import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from apps.runs import figures

from .test_results_fixtures import (  # noqa: F401
    figure_in,
    make_run,
    make_version,
    results_env,
    small_run,
    url,
)


@pytest.fixture(autouse=True)
def _empty_local_cache():
    figures.cache().local.clear()
    yield
    figures.cache().local.clear()


def reads(level: str, result: str) -> float:
    labels = {"cache": "figures", "level": level, "result": result}
    return REGISTRY.get_sample_value("pynomaly_cache_requests_total", labels) or 0.0


def figure_url(run, name: str, **query) -> str:
    path = reverse(
        "runs:figure", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, "name": name}
    )
    query = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def linked(html: str, chart_id: str) -> str:
    m = re.search(rf'<div id="{chart_id}" data-plotly data-figure-url="([^"]+)"', html)
    assert m, f"no figure URL for {chart_id}"
    return html_lib.unescape(m.group(1))


def big_run(tenant, n: int = 5000, seed: int = 0):
    """A few-thousand-row run with a time column, 8 features and contributions."""
    rng = np.random.default_rng(seed)
    data = {f"f{i}": rng.normal(size=n) for i in range(8)}
    data["timestamp"] = np.arange(n).astype("datetime64[m]").astype("datetime64[ns]")
    version = make_version(tenant, data)
    scores = rng.normal(size=n)
    scores[: n // 50] += 4
    contributions = {f"f{i}": rng.random(n) for i in range(4)}
    return make_run(
        tenant, version, scores, threshold=2.5, contributions=contributions, time_column="timestamp"
    )


# ---------------------------------------------------------------- the page
def test_the_results_page_links_its_charts_instead_of_inlining_them(alice_client, tenant_a):
    run = big_run(tenant_a)
    response = alice_client.get(url("results", run))
    html = response.content.decode()
    # Before the charts had URLs this page weighed 489,564 bytes (the figures inlined).
    assert len(response.content) < 100_000
    scripts = re.findall(r'<script id="([^"]+)" type="application/json">', html)
    assert scripts == ["threshold-stops"]  # the slider's stops; no figure
    for chart in ("histogram", "timeseries", "heatmap", "projection"):
        link = linked(html, f"chart-{chart}")
        assert f"/runs/{run.pk}/figures/{chart}.json?v=" in link
        assert "data" in figure_in(alice_client, html, f"chart-{chart}")
    inlined = sum(
        len(alice_client.get(linked(html, f"chart-{c}") + "&w=1280").content)
        for c in ("histogram", "timeseries", "heatmap", "projection")
    )
    assert len(response.content) < inlined / 2  # what the page no longer carries
    assert "This chart is drawn by JavaScript" in html  # <noscript>, with a link to the data


def test_a_figure_is_cacheable_json_with_an_etag_and_answers_304_when_unchanged(
    alice_client, tenant_a
):
    run = small_run(tenant_a)
    link = linked(alice_client.get(url("results", run)).content.decode(), "chart-histogram")
    first = alice_client.get(link)
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert first["Cache-Control"] == "private, max-age=31536000, immutable"
    assert json.loads(first.content)["layout"]["shapes"][0]["x0"] == 0.9
    again = alice_client.get(link, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    # without the version (a hand-made URL) the browser must ask each time
    bare = alice_client.get(figure_url(run, "histogram"))
    assert bare.status_code == 200 and bare["Cache-Control"].startswith("private, max-age=0")


def test_a_stranger_gets_404_for_a_figure(charlie_client, tenant_a):
    run = small_run(tenant_a)
    assert charlie_client.get(figure_url(run, "histogram")).status_code == 404


@pytest.mark.parametrize(
    "name",
    ["nonsense", "series", "swimlane", "graph"],  # unknown, or not for a table run
)
def test_a_chart_the_run_does_not_have_is_404(alice_client, tenant_a, name):
    run = small_run(tenant_a)
    assert alice_client.get(figure_url(run, name)).status_code == 404


def test_an_unfinished_run_has_no_figures(alice_client, tenant_a):
    version = small_run(tenant_a).dataset_version
    queued = make_run(tenant_a, version, [0.1], threshold=0.5, status="queued")
    assert alice_client.get(figure_url(queued, "histogram")).status_code == 404


def test_bad_parameters_are_read_as_defaults_not_errors(alice_client, tenant_a):
    run = small_run(tenant_a)
    for query in ({"w": "wide"}, {"w": "-3"}, {"threshold": "nan"}, {"threshold": "x"}):
        response = alice_client.get(figure_url(run, "timeseries", **query))
        assert response.status_code == 200, query


def test_a_narrow_screen_gets_fewer_points_and_every_flagged_row(alice_client, tenant_a):
    n = 50_000
    rng = np.random.default_rng(1)
    version = make_version(tenant_a, {"a": rng.normal(size=n), "b": rng.normal(size=n)})
    scores = rng.random(n)
    run = make_run(tenant_a, version, scores, threshold=0.999)
    phone = json.loads(alice_client.get(figure_url(run, "timeseries", w=390)).content)
    desktop = json.loads(alice_client.get(figure_url(run, "timeseries", w=1280)).content)
    assert len(phone["data"][0]["x"]) <= 1024 < len(desktop["data"][0]["x"]) <= 2560
    flagged = int((scores > 0.999).sum())
    assert len(phone["data"][1]["x"]) == len(desktop["data"][1]["x"]) == flagged


# ---------------------------------------------------------------- the caches
def test_a_second_request_is_a_hit_in_the_process_and_another_process_finds_it_in_redis(
    alice_client, tenant_a
):
    run = big_run(tenant_a)
    link = figure_url(run, "projection", v=figures.version(run))
    local_hits, shared_hits, misses = (
        reads("local", "hit"),
        reads("shared", "hit"),
        reads("shared", "miss"),
    )
    body = alice_client.get(link).content
    assert reads("shared", "miss") == misses + 1  # built once
    assert alice_client.get(link).content == body
    assert reads("local", "hit") == local_hits + 1
    figures.cache().local.clear()  # as a web process that never built it
    assert alice_client.get(link).content == body
    assert reads("shared", "hit") == shared_hits + 1
    assert reads("shared", "miss") == misses + 1  # never built again


def test_saving_a_threshold_changes_the_served_figure(alice_client, tenant_a):
    run = small_run(tenant_a)  # threshold 0.9
    page = alice_client.get(url("results", run)).content.decode()
    before = linked(page, "chart-histogram")
    assert json.loads(alice_client.get(before).content)["layout"]["shapes"][0]["x0"] == 0.9
    misses = reads("shared", "miss")
    response = alice_client.post(url("threshold_save", run), {"threshold": "0.5"})
    assert response.status_code == 302
    after = linked(alice_client.get(url("results", run)).content.decode(), "chart-histogram")
    assert after != before  # a new version: the browser's cached copy is not used
    assert json.loads(alice_client.get(after).content)["layout"]["shapes"][0]["x0"] == 0.5
    # the old URL (say, an open tab) is served the current figure too, and must revalidate
    old = alice_client.get(before)
    assert json.loads(old.content)["layout"]["shapes"][0]["x0"] == 0.5
    assert old["Cache-Control"].startswith("private, max-age=0")
    assert reads("shared", "miss") > misses  # built anew, not read from an old entry


def test_a_new_verdict_changes_the_verdicts_chart(alice, alice_client, tenant_a):
    from apps.feedback.services import verdict_record

    run = small_run(tenant_a)
    version = run.dataset_version
    verdict_record(tenant=tenant_a, user=alice, version=version, row=95, verdict="anomaly", run=run)
    first = json.loads(alice_client.get(figure_url(run, "verdicts")).content)
    assert [t["name"] for t in first["data"]] == ["Anomaly (1)", "Normal (0)"]
    verdict_record(tenant=tenant_a, user=alice, version=version, row=10, verdict="normal", run=run)
    second = json.loads(alice_client.get(figure_url(run, "verdicts")).content)
    assert [t["name"] for t in second["data"]] == ["Anomaly (1)", "Normal (1)"]


def test_a_user_the_run_is_shared_with_sees_its_charts_but_not_the_verdicts(
    alice, tenant_a, django_user_model
):
    from django.test import Client

    from apps.feedback.services import verdict_record
    from apps.runs.sharing import run_share
    from apps.tenants.services import tenant_create

    run = small_run(tenant_a)
    verdict_record(
        tenant=tenant_a, user=alice, version=run.dataset_version, row=95, verdict="anomaly", run=run
    )
    sam = django_user_model.objects.create_user(username="sam", email="sam@example.com")
    tenant_create(name="Sam's", owner=sam, personal=True)
    run_share(run=run, email="sam@example.com", expires_at=None, actor=alice)
    client = Client()
    client.force_login(sam)
    assert client.get(figure_url(run, "histogram")).status_code == 200
    assert client.get(figure_url(run, "verdicts")).status_code == 404


def test_figures_are_served_when_redis_cannot_be_reached(alice_client, tenant_a, monkeypatch):
    from django.core.cache import caches

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    shared = caches["default"]
    monkeypatch.setattr(shared, "get", down)
    monkeypatch.setattr(shared, "set", down)
    errors = reads("shared", "error")
    run = small_run(tenant_a)
    response = alice_client.get(figure_url(run, "histogram"))
    assert response.status_code == 200 and json.loads(response.content)["data"]
    assert reads("shared", "error") == errors + 1


# ---------------------------------------------------------------- the comparison's scatter
def compare_url(tenant, **query) -> str:
    path = reverse("runs:compare_figure", kwargs={"tenant_slug": tenant.slug})
    return path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_the_comparison_page_links_its_scatter_and_a_stranger_gets_404(
    alice_client, charlie_client, tenant_a
):
    a = small_run(tenant_a)
    b = make_run(tenant_a, a.dataset_version, np.arange(100) / 100, threshold=0.95)
    path = reverse("runs:compare", kwargs={"tenant_slug": tenant_a.slug})
    html = alice_client.get(f"{path}?a={a.pk}&b={b.pk}").content.decode()
    link = linked(html, "chart-compare")
    response = alice_client.get(link + "&w=1280")
    assert response.status_code == 200 and response["Cache-Control"].endswith("immutable")
    names = [t["name"] for t in json.loads(response.content)["data"]]
    assert names == ["flagged by both (4)", "only A (5)", "only B (0)", "neither (91)"]
    again = alice_client.get(link + "&w=1280", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    assert charlie_client.get(compare_url(tenant_a, a=a.pk, b=b.pk)).status_code == 404


def test_the_scatter_of_runs_that_cannot_be_compared_is_a_clear_400(alice_client, tenant_a):
    a, other = small_run(tenant_a), small_run(tenant_a, seed=2)
    assert alice_client.get(compare_url(tenant_a, a=a.pk)).status_code == 400
    refused = alice_client.get(compare_url(tenant_a, a=a.pk, b=other.pk))
    assert refused.status_code == 400
    assert "only runs on the same dataset version" in json.loads(refused.content)["detail"]
