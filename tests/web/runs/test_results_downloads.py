"""Downloads: CSV streamed batch by batch and safe for spreadsheets; Parquet round-trips."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from apps.runs import selectors
from pynomaly.results import escape_cell

from .test_results_fixtures import make_run, make_version, results_env, small_run, url  # noqa: F401

NASTY = ['=HYPERLINK("http://evil")', "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("value", NASTY)
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(value):
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "a=b", "", "1e5", "'=already"])
def test_harmless_text_is_left_alone(value):
    assert escape_cell(value) == value


@pytest.mark.parametrize("value", [-1.5, -3, 0.0, 7])
def test_numbers_are_never_escaped_even_when_negative(value):
    assert escape_cell(value) == value


def _run_with_nasty_features(tenant):
    n = 30
    names = ["=cmd", "+plus", "-minus", "@at", "fine"]
    version = make_version(tenant, {name: np.zeros(n) for name in names})
    contributions = {name: np.full(n, -0.25) for name in names}
    return make_run(
        tenant, version, np.linspace(-1, 1, n), threshold=0.5, contributions=contributions
    )


def test_the_csv_is_streamed_and_escapes_formula_like_cells(alice_client, tenant_a):
    run = _run_with_nasty_features(tenant_a)
    response = alice_client.get(url("download_csv", run))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="run-{run.pk}-results.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    # prefixed with "contrib:", feature names cannot start a formula
    assert rows[0] == [
        "row_id",
        "score",
        "label",
        "severity",
        "contrib:=cmd",
        "contrib:+plus",
        "contrib:-minus",
        "contrib:@at",
        "contrib:fine",
    ]
    assert len(rows) == 31
    assert rows[1][1] == "-1" and rows[1][4] == "-0.25"  # negative numbers stay numbers
    assert [int(r[2]) for r in rows[1:]] == [int(s > 0.5) for s in np.linspace(-1, 1, 30)]


def test_the_csv_comes_batch_by_batch(tenant_a):
    run = small_run(tenant_a)
    chunks = list(selectors.csv_chunks(run, batch_size=10))
    assert len(chunks) == 1 + 10  # header, then one chunk per batch of 10 rows
    assert b"".join(chunks).count(b"\n") == 101


def test_text_cells_and_headers_are_escaped_in_the_stream(tenant_a, monkeypatch):
    import pyarrow as pa
    from django.conf import settings

    version = make_version(tenant_a, {"x": [1.0, 2.0]})
    run = make_run(tenant_a, version, [-0.1, 0.9], threshold=0.5)
    path = f"{settings.MEDIA_ROOT}/{run.results.name}"
    pq.write_table(pq.read_table(path).append_column("@note", pa.array(["=1+1", "-neg"])), path)
    original = selectors.download_columns
    monkeypatch.setattr(selectors, "download_columns", lambda r: [*original(r), "@note"])
    rows = list(csv.reader(io.StringIO(b"".join(selectors.csv_chunks(run)).decode())))
    assert rows[0][-1] == "'@note"
    assert [r[-1] for r in rows[1:]] == ["'=1+1", "'-neg"]
    assert rows[1][1] == "-0.1"  # the negative score in the same text-path batch stays a number


def test_the_parquet_download_round_trips(alice_client, tenant_a):
    n = 50
    version = make_version(tenant_a, {"a": np.zeros(n), "b": np.zeros(n)})
    contributions = {"a": np.linspace(0, 1, n), "b": np.linspace(1, 0, n)}
    scores = np.random.default_rng(9).random(n)
    run = make_run(tenant_a, version, scores, threshold=0.7, contributions=contributions)
    response = alice_client.get(url("download_parquet", run))
    assert response.status_code == 200
    assert f'filename="run-{run.pk}-results.parquet"' in response["Content-Disposition"]
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.column_names == ["row_id", "score", "label", "severity", "contrib:a", "contrib:b"]
    assert table.column("row_id").to_pylist() == list(range(n))
    assert np.array_equal(table.column("score").to_numpy(), scores)
    assert table.column("label").to_pylist() == (scores > 0.7).astype(int).tolist()
    assert np.array_equal(table.column("contrib:a").to_numpy(), contributions["a"])


def test_a_viewer_may_download(vera_client, tenant_a):
    run = small_run(tenant_a)
    assert vera_client.get(url("download_csv", run)).status_code == 200
    assert vera_client.get(url("download_parquet", run)).status_code == 200
