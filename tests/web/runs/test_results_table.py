"""The flagged-rows table: sorted, paged (htmx partial with a real href), values joined from the data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from apps.runs import selectors
from apps.runs.anomalies import anomalies_table

from .test_results_fixtures import make_run, make_version, results_env, small_run, url  # noqa: F401

HTMX = {"HTTP_HX_REQUEST": "true"}


def _row_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-row-id="(\d+)"', html)]


def test_the_table_lists_the_flagged_rows_highest_score_first(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a))).content.decode()
    assert _row_ids(html) == list(range(99, 90, -1))


def test_each_row_shows_its_values_from_the_dataset(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a))).content.decode()
    row = html[html.index('data-row-id="95"') :]
    row = row[: row.index("</tr>")]
    assert "item-95" in row and ">95.0<" in row  # the name and z columns of dataset row 95


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("row_id", "asc", list(range(91, 100))),
        ("score", "asc", list(range(91, 100))),
        ("severity", "desc", list(range(99, 90, -1))),
        ("name", "desc", list(range(99, 90, -1))),
    ],
)
def test_the_table_sorts_by_any_column(alice_client, tenant_a, sort, direction, expected):
    run = small_run(tenant_a)
    html = alice_client.get(
        url("results_table", run, sort=sort, dir=direction), **HTMX
    ).content.decode()
    assert _row_ids(html) == expected


def test_sorting_by_a_feature_follows_its_values(alice_client, tenant_a):
    run = small_run(tenant_a)
    x = selectors.read_column(run.dataset_version.parquet, "x")
    html = alice_client.get(url("results_table", run, sort="x", dir="asc"), **HTMX).content.decode()
    assert _row_ids(html) == sorted(range(91, 100), key=lambda i: x[i])


def test_an_unknown_sort_falls_back_to_score(alice_client, tenant_a):
    html = alice_client.get(
        url("results_table", small_run(tenant_a), sort="__class__"), **HTMX
    ).content.decode()
    assert _row_ids(html) == list(range(99, 90, -1))


def test_the_table_pages_and_its_links_keep_a_real_href(alice_client, tenant_a):
    run = small_run(tenant_a, threshold=0.5)  # rows 51..99: 49 flagged, two pages
    first = alice_client.get(url("results", run)).content.decode()
    assert _row_ids(first) == list(range(99, 74, -1))
    assert "1–25 of 49" in first
    nxt = re.search(
        r'<a class="btn btn-secondary" rel="next" href="([^"]+)" hx-get="([^"]+)"', first
    )
    href, hx = (u.replace("&amp;", "&") for u in nxt.groups())
    assert "page=2" in href and "/results/?" in href and "/results/table/?" in hx
    partial = alice_client.get(hx, **HTMX).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<section id="anomalies-table"')
    assert _row_ids(partial) == list(range(74, 50, -1))
    assert _row_ids(alice_client.get(href).content.decode()) == list(
        range(74, 50, -1)
    )  # without JS too


def test_the_table_without_htmx_is_the_whole_page(alice_client, tenant_a):
    html = alice_client.get(url("results_table", small_run(tenant_a), page=1)).content.decode()
    assert "<html" in html and 'id="summary-cards"' in html


def test_sort_headers_flip_direction_and_keep_the_preview_threshold(alice_client, tenant_a):
    run = small_run(tenant_a)
    html = alice_client.get(
        url("results_table", run, sort="score", dir="desc", threshold="0.5"), **HTMX
    ).content.decode()
    score_link = re.search(r'href="([^"]*sort=score[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "dir=asc" in score_link and "threshold=0.5" in score_link
    assert 'aria-sort="descending"' in html


def test_rows_say_which_contributions_stand_out(alice_client, tenant_a):
    n = 20
    version = make_version(
        tenant_a, {"a": np.zeros(n), "b": np.zeros(n), "c": np.zeros(n), "d": np.zeros(n)}
    )
    contributions = {
        "a": np.full(n, 0.1),
        "b": np.full(n, 0.4),
        "c": np.full(n, 0.3),
        "d": np.full(n, 0.2),
    }
    run = make_run(tenant_a, version, np.arange(n) / n, threshold=0.9, contributions=contributions)
    table = anomalies_table(run)
    assert table.why_kind == "contribution"
    assert [w["feature"] for w in table.rows[0]["why"]] == ["b", "c", "d"]


def test_without_contributions_rows_name_their_largest_z_scores(alice_client, tenant_a):
    rng = np.random.default_rng(5)
    n = 200
    data = {
        "p": rng.normal(size=n),
        "q": rng.normal(size=n),
        "r": rng.normal(size=n),
        "s": rng.normal(size=n),
    }
    data["q"][199] = 40.0
    data["s"][199] = -25.0
    version = make_version(tenant_a, data)
    run = make_run(tenant_a, version, np.arange(n) / n, threshold=0.99)
    table = anomalies_table(run)
    assert table.why_kind == "z-score"
    why = table.rows[0]["why"]
    assert table.rows[0]["row_id"] == 199
    assert [w["feature"] for w in why][:2] == ["q", "s"]
    assert why[0]["value"] > 10 and why[1]["value"] < -10
    html = alice_client.get(url("results", run)).content.decode()
    assert "Why flagged (z-score)" in html


def test_reading_rows_by_position_reads_only_their_row_groups_in_the_asked_order(tenant_a):
    version = make_version(tenant_a, {"v": np.arange(1000)}, row_group_size=100)
    table = selectors.read_rows(version.parquet, np.array([950, 3, 420, 3]), ["v"])
    assert table.column("v").to_pylist() == [950, 3, 420, 3]


def test_paging_through_tied_scores_shows_every_row_once(tenant_a):
    n = 1000
    scores = np.repeat([0.2, 0.6, 0.9], [400, 300, 300])  # many ties, 600 rows flagged
    version = make_version(tenant_a, {"x": np.arange(n, dtype=float)})
    run = make_run(tenant_a, version, scores, threshold=0.5)
    seen = []
    for page in range(1, 25):
        seen += [r["row_id"] for r in anomalies_table(run, sort="score", page=page).rows]
    assert seen == list(range(700, 1000)) + list(range(400, 700))
