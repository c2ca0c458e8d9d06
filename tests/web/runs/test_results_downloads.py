"""Downloads: CSV streamed batch by batch and safe for spreadsheets; Parquet round-trips."""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow.parquet as pq
import pytest

from apps.runs import exports
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
        "severity",
        "predicted_anomaly",
        "reasons",
        "contrib:=cmd",
        "contrib:+plus",
        "contrib:-minus",
        "contrib:@at",
        "contrib:fine",
    ]
    assert len(rows) == 31
    assert rows[1][1] == "-1" and rows[1][5] == "-0.25"  # negative numbers stay numbers
    assert [int(r[3]) for r in rows[1:]] == [int(s > 0.5) for s in np.linspace(-1, 1, 30)]
    # a flagged row's reasons name features, escaped like every text cell
    assert rows[-1][4].startswith("'") and "=cmd (-0.25)" in rows[-1][4]


def test_the_csv_comes_batch_by_batch(tenant_a):
    run = small_run(tenant_a)
    chunks = list(exports.csv_chunks(run, batch_size=10))
    assert len(chunks) == 1 + 10  # header, then one chunk per batch of 10 rows
    assert b"".join(chunks).count(b"\n") == 101


def test_text_cells_and_headers_are_escaped_in_the_stream(tenant_a):
    import pyarrow as pa
    from django.conf import settings

    version = make_version(tenant_a, {"x": [1.0, 2.0]})
    run = make_run(tenant_a, version, [-0.1, 0.9], threshold=0.5)
    pq.write_table(
        pq.read_table(f"{settings.MEDIA_ROOT}/{run.dataset_version.parquet.name}").append_column(
            "@note", pa.array(["=1+1", "-neg"])
        ),
        f"{settings.MEDIA_ROOT}/{run.dataset_version.parquet.name}",
    )
    rows = list(csv.reader(io.StringIO(b"".join(exports.csv_chunks(run, original=True)).decode())))
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
    assert table.column_names == [
        "row_id",
        "score",
        "severity",
        "predicted_anomaly",
        "reasons",
        "contrib:a",
        "contrib:b",
    ]
    assert table.column("row_id").to_pylist() == list(range(n))
    assert np.array_equal(table.column("score").to_numpy(), scores)
    flagged = scores > 0.7
    assert table.column("predicted_anomaly").to_pylist() == flagged.astype(int).tolist()
    reasons = table.column("reasons").to_pylist()
    assert all((r is not None) == f for r, f in zip(reasons, flagged, strict=True))
    assert np.array_equal(table.column("contrib:a").to_numpy(), contributions["a"])


def test_a_viewer_may_download(vera_client, tenant_a):
    run = small_run(tenant_a)
    assert vera_client.get(url("download_csv", run)).status_code == 200
    assert vera_client.get(url("download_parquet", run)).status_code == 200


def test_the_download_carries_the_timestamp_and_with_data_every_original_column(
    alice_client, tenant_a
):
    # The data has its own ground-truth "label" and a column named like ours ("score"):
    # the flag is the prediction, the data's columns keep their values (clashes prefixed).
    n = 6
    stamps = np.array("2026-01-01T00:00", dtype="datetime64[m]") + np.arange(n)
    version = make_version(
        tenant_a,
        {
            "ts": stamps,
            "temp": [20.0, 21.0, 20.5, 80.0, 20.2, 19.9],
            "label": [0, 0, 0, 1, 0, 0],
            "score": [9, 9, 9, 9, 9, 9],
        },
        time_column="ts",
    )
    scores = np.array([0.1, 0.2, 0.1, 0.9, 0.2, 0.1])
    run = make_run(tenant_a, version, scores, threshold=0.5)
    run.label_column = "label"  # the data's truth: never a reason
    run.save(update_fields=["label_column"])

    plain = alice_client.get(url("download_csv", run))
    rows = list(csv.reader(io.StringIO(b"".join(plain.streaming_content).decode())))
    assert rows[0] == ["row_id", "ts", "score", "severity", "predicted_anomaly", "reasons"]
    assert rows[4][1].startswith("2026-01-01") and rows[4][4] == "1"
    assert rows[4][5].startswith("temp")  # the only feature that deviates, by |z-score|
    assert rows[1][5] == ""  # rows that are not flagged have no reasons

    response = alice_client.get(url("download_parquet", run) + "?data=1")
    assert f'filename="run-{run.pk}-results-with-data.parquet"' in response["Content-Disposition"]
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.column_names == [
        "row_id",
        "ts",
        "score",
        "severity",
        "predicted_anomaly",
        "reasons",
        "temp",
        "label",
        "data:score",
    ]
    assert table.column("temp").to_pylist()[3] == 80.0
    assert table.column("label").to_pylist() == [0, 0, 0, 1, 0, 0]  # the data's own truth
    assert table.column("data:score").to_pylist() == [9] * n
    assert table.column("predicted_anomaly").to_pylist() == [0, 0, 0, 1, 0, 0]


def test_the_api_download_takes_data_too(alice, tenant_a):
    from tests.web.api.conftest import Api, make_token

    version = make_version(tenant_a, {"x": [1.0, 2.0, 3.0], "name": ["a", "b", "=c"]})
    run = make_run(tenant_a, version, [0.1, 0.2, 0.9], threshold=0.5)
    api = Api(make_token(alice, tenant_a, scope="read")[1])
    response = api.get(f"/runs/{run.pk}/results/download", {"data": "true"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][-2:] == ["x", "name"]
    assert rows[3][-1] == "'=c"
