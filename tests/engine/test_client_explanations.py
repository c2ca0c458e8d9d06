"""The SDK and the remote CLI read a run's explanations (against the fake server)."""

from __future__ import annotations

import pytest

from pynomaly import cli, config
from pynomaly.client import Client
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture

EXPLANATIONS = {
    "method": "tree_shap",
    "method_label": "Tree SHAP on the isolation forest",
    "units": "minus the forest's average path length (higher = more anomalous)",
    "rows": 2,
    "seconds": 0.1,
    "error": None,
    "importance": [{"feature": "temp", "value": 1.5}, {"feature": "rpm", "value": 0.2}],
    "segments": [{"column": "site", "value": "north", "anomalies": 2, "rows": 10,
                  "share_anomalies": 1.0, "share_rows": 0.1, "lift": 10.0, "p_value": 0.001}],
    "items": [
        {"row_id": 7, "score": 0.8, "base_value": -12.0, "output": -9.0,
         "attributions": [{"feature": "temp", "value": 2.5}, {"feature": "rpm", "value": 0.5}]},
        {"row_id": 3, "score": 0.7, "base_value": -12.0, "output": -10.0,
         "attributions": [{"feature": "rpm", "value": -0.1}, {"feature": "temp", "value": 2.1}]},
    ],
}  # fmt: skip


@pytest.fixture
def api():
    fake = FakeApi()
    yield fake
    fake.close()


def test_the_sdk_reads_explanations_and_one_row(api):
    api.route("GET", "/runs/4/explanations", (200, EXPLANATIONS))
    api.route(
        "GET", "/runs/4/rows/7", (200, {"row_id": 7, "explanation": EXPLANATIONS["items"][0]})
    )
    with Client(api.url, "pyn_test", timeout=5) as client:
        body = client.runs.explanations(4, limit=2, top=3)
        row = client.runs.row(4, 7)
    assert body["method"] == "tree_shap" and body["importance"][0]["feature"] == "temp"
    assert api.requests[0]["query"] == {"limit": "2", "top": "3"}
    assert row["explanation"]["attributions"][0]["feature"] == "temp"


def test_runs_explain_prints_the_method_importance_segments_and_row_reasons(
    api,
    config_file,  # noqa: F811
    capsys,
):
    config.save_login(api.url, "pyn_x")
    api.route("GET", "/runs/4/explanations", (200, EXPLANATIONS))
    assert cli.main(["runs", "explain", "4"]) == 0
    out = capsys.readouterr().out
    assert "explained by Tree SHAP on the isolation forest" in out
    assert "importance: temp 1.5" in out
    assert "segment: site = north: 2 anomalies of 10 rows, lift 10.0" in out
    assert "#7 score 0.8: temp +2.5, rpm +0.5" in out
    assert "#3 score 0.7: temp +2.1" in out and "rpm -0.1" not in out  # only what pushes up
