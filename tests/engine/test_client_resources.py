"""The SDK's resource calls against the fake server of test_client_unit: each sends the
request the REST API documents and returns typed objects; misuse is refused locally."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pandas as pd
import pytest

from pynomaly.client import (
    ApiError,
    AuthError,
    Client,
    ConnectionFailed,
    Dataset,
    RateLimited,
    Run,
)
from pynomaly.client.endpoints import iter_jsonl
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture


@pytest.fixture
def api():
    fake = FakeApi()
    yield fake
    fake.close()


@pytest.fixture
def client(api):
    with Client(api.url, "pyn_test", timeout=5) as c:
        yield c


def _page(*items):
    return (200, {"items": list(items), "next_cursor": None})


def test_dataset_calls_reach_their_endpoints(api, client):
    api.route("GET", "/datasets/4/versions", _page({"id": 9, "number": 2, "rows": 10}))
    api.route("GET", "/datasets/4/profile", (200, {"columns": [{"name": "a"}]}))
    api.route("DELETE", "/datasets/4", (204, b""))

    versions = client.datasets.versions(4)
    profile = client.datasets.profile(4, version=2)
    client.datasets.delete(4)

    assert [(v.id, v.number, v.rows) for v in versions] == [(9, 2, 10)]
    assert profile == {"columns": [{"name": "a"}]}
    assert api.requests[1]["query"] == {"version": "2"}
    assert api.requests[2]["method"] == "DELETE"


def test_detector_and_configuration_calls_reach_their_endpoints(api, client):
    api.route("GET", "/detectors", _page({"key": "iforest", "available": True}))
    api.route("GET", "/detectors/iforest", (200, {"key": "iforest", "family": "ensemble"}))
    api.route("GET", "/detector-configs", _page({"id": 2, "name": "forest"}))
    api.route("GET", "/detector-configs/2", (200, {"id": 2, "version": 3}))
    api.route(
        "PATCH", "/detector-configs/2", lambda req: (200, {"id": 2, **json.loads(req["body"])})
    )
    api.route("DELETE", "/detector-configs/2", (204, b""))

    assert [d.key for d in client.detectors.list(available=True)] == ["iforest"]
    assert client.detectors.get("iforest").family == "ensemble"
    assert [c.name for c in client.detector_configs.list()] == ["forest"]
    assert client.detector_configs.get(2).version == 3
    updated = client.detector_configs.update(2, name="trees")
    client.detector_configs.delete(2)

    assert api.requests[0]["query"] == {"available": "true"}
    assert updated.name == "trees"
    assert json.loads(api.requests[4]["body"]) == {"name": "trees"}  # unset fields not sent


def test_run_calls_reach_their_endpoints(api, client):
    api.route(
        "POST", "/runs", lambda req: (201, {"id": 5, "status": "queued", **json.loads(req["body"])})
    )
    api.route("GET", "/runs", _page({"id": 5, "status": "queued"}))
    api.route("POST", "/runs/5/cancel", (200, {"id": 5, "status": "cancelled"}))
    api.route(
        "GET", "/runs/5/results", _page({"row_id": 0, "score": 1.5, "label": 1, "severity": 99})
    )

    run = client.runs.start(detector_config_id=2, dataset_version_id=9, accept_cost=True)
    listed = client.runs.list(status="queued")
    cancelled = client.runs.cancel(5)
    rows = run.results(as_dataframe=False)

    assert json.loads(api.requests[0]["body"]) == {
        "detector_config_id": 2, "dataset_version_id": 9, "label_column": "", "accept_cost": True,
    }  # fmt: skip
    assert [r.id for r in listed] == [5] and api.requests[1]["query"]["status"] == "queued"
    assert cancelled.status == "cancelled"
    assert rows == [{"row_id": 0, "score": 1.5, "label": 1, "severity": 99}]


def test_a_run_needs_exactly_one_of_dataset_and_version(client):
    with pytest.raises(ValueError, match="exactly one"):
        client.runs.start(detector_config_id=2)
    with pytest.raises(ValueError, match="exactly one"):
        client.runs.start(detector_config_id=2, dataset_id=1, dataset_version_id=9)


def test_download_refuses_an_unknown_format(client, tmp_path):
    with pytest.raises(ValueError, match="csv or parquet"):
        client.runs.download(5, tmp_path / "scores.xml", format="xml")


def test_models_are_listed(api, client):
    api.route("GET", "/models", _page({"id": 3, "run_id": 5, "feature_names": ["a", "b"]}))

    assert [(m.id, m.feature_names) for m in client.models.list()] == [(3, ["a", "b"])]


def test_scoring_takes_a_dataframe_and_refuses_records_that_are_not_dicts(api, client):
    def answer(req):
        n = len(json.loads(req["body"])["records"])
        return (
            200,
            {"scores": [0.5] * n, "labels": [0] * n, "severity": [10.0] * n, "threshold": 1},
        )

    api.route("POST", "/models/3/score", answer)
    frame = pd.DataFrame({"a": [1.0, np.nan], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})

    result = client.models.score(3, frame)

    sent = json.loads(api.requests[0]["body"])["records"]
    assert sent[1]["a"] is None and sent[0]["when"].startswith("2024-01-01")
    assert result.scores == [0.5, 0.5]
    with pytest.raises(TypeError, match="must be a dict"):
        client.models.score(3, [[1, 2]])


def test_numpy_values_in_a_body_are_sent_as_plain_json(api, client):
    api.route("POST", "/detector-configs", lambda req: (201, {"id": 1, **json.loads(req["body"])}))

    created = client.detector_configs.create("n", {"threshold": {"value": np.float32(0.25)}})

    assert created.pipeline == {"threshold": {"value": 0.25}}
    with pytest.raises(TypeError, match="not JSON serialisable"):
        client.detector_configs.create("n", {"x": object()})


def test_the_tenants_of_the_token_are_listed(api, client):
    api.route("GET", "/tenants", (200, [{"slug": "acme", "name": "Acme", "role": "owner"}]))

    assert [(t.slug, t.role) for t in client.tenants()] == [("acme", "owner")]


def test_a_retry_after_given_as_a_date_is_turned_into_seconds(api, client):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    api.route(
        "GET", "/me", (429, {"title": "Slow down", "detail": "later"}, {"Retry-After": later})
    )

    with pytest.raises(RateLimited) as caught:
        client.me()

    assert 60 < caught.value.retry_after <= 120


def test_a_structured_detail_is_kept_as_json_text(api, client):
    api.route("GET", "/me", (418, {"title": "Odd", "detail": [{"msg": "x"}]}))

    with pytest.raises(ApiError) as caught:
        client.me()

    assert caught.value.status == 418
    assert json.loads(str(caught.value)) == [{"msg": "x"}]


def test_a_server_that_does_not_answer_in_time_is_a_connection_error(api):
    def slow(_req):
        import time

        time.sleep(1.0)
        return (200, {})

    api.route("GET", "/me", slow)
    with Client(api.url, "pyn_test", timeout=0.2) as client, pytest.raises(ConnectionFailed) as e:
        client.me()

    assert "did not answer within 0.2 s" in str(e.value)


def test_objects_not_fetched_through_a_client_say_so():
    with pytest.raises(RuntimeError, match="not fetched through a Client"):
        Dataset(id=1).refresh()
    with pytest.raises(RuntimeError, match="has no id"):
        Run(_client=Client("http://x", "t")).refresh()


def test_from_config_without_a_login_asks_to_log_in(config_file):  # noqa: F811
    with pytest.raises(AuthError, match="pynomaly login"):
        Client.from_config()


def test_from_config_uses_the_saved_login(config_file):  # noqa: F811
    from pynomaly import config

    config.save_login("http://srv.example/api/v1", "pyn_saved")

    client = Client.from_config()

    assert repr(client) == "Client('http://srv.example')"


def test_json_lines_name_the_line_that_is_not_an_object():
    assert list(iter_jsonl(['{"a": 1}', "", '{"a": 2}'])) == [{"a": 1}, {"a": 2}]
    with pytest.raises(ValueError, match="line 2 is not a JSON object"):
        list(iter_jsonl(['{"a": 1}', "[1]"]))
