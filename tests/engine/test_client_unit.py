"""The SDK and the remote CLI against a tiny fake HTTP server (no Django, no database)."""

from __future__ import annotations

import json
import math
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from pynomaly import cli, config
from pynomaly.client import (
    ApiError,
    AuthError,
    Client,
    ConnectionFailed,
    IngestFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    RunFailed,
    ServerError,
    ValidationError,
)


# ------------------------------------------------------------------ the fake server
class FakeApi:
    """Routes ``(METHOD, path)`` to a handler returning (status, body[, headers])."""

    def __init__(self):
        self.routes: dict[tuple[str, str], object] = {}
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = {"method": self.command, "path": parts.path,
                        "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                        "headers": dict(self.headers), "body": body}  # fmt: skip
                outer.requests.append(seen)
                route = outer.routes.get((self.command, parts.path))
                if route is None:
                    answer = (404, {"title": "Not Found", "status": 404, "detail": "no route"})
                else:
                    answer = route(seen) if callable(route) else route
                status, payload, *rest = answer
                headers = rest[0] if rest else {}
                if isinstance(payload, bytes):
                    data, ctype = payload, headers.pop("Content-Type", "text/html")
                else:
                    data = json.dumps(payload).encode()
                    ctype = "application/problem+json" if status >= 400 else "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, answer) -> None:
        self.routes[(method, "/api/v1" + path)] = answer

    def sequence(self, method: str, path: str, answers: list) -> None:
        """Answer successive requests with successive answers (the last one repeats)."""
        queue = list(answers)
        self.route(method, path, lambda _req: queue.pop(0) if len(queue) > 1 else queue[0])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    fake = FakeApi()
    yield fake
    fake.close()


@pytest.fixture
def client(api):
    with Client(api.url, "pyn_test", timeout=5) as c:
        yield c


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "pynomaly" / "config.json"
    monkeypatch.setenv("PYNOMALY_CONFIG", str(path))
    monkeypatch.delenv("PYNOMALY_URL", raising=False)
    monkeypatch.delenv("PYNOMALY_TOKEN", raising=False)
    return path


def problem(status: int, detail: str, **extra):
    return (status, {"type": "about:blank", "title": "Refused", "status": status, "detail": detail,
                     **extra})  # fmt: skip


RUN = {"id": 7, "status": "queued", "stage": "queued", "percent": 0, "error": "", "summary": {},
       "metrics": {}, "trained_model_id": None, "dataset_id": 1}  # fmt: skip
ME = {"id": 1, "email": "alice@example.com", "tenant": {"slug": "acme", "name": "Acme"},
      "role": "owner", "scope": "write"}  # fmt: skip


# ------------------------------------------------------------------ transport and errors
def test_it_sends_the_token_as_a_bearer_and_returns_typed_objects(api, client):
    api.route("GET", "/me", (200, ME))

    me = client.me()

    assert me.email == "alice@example.com" and me.tenant["slug"] == "acme" and me.scope == "write"
    assert api.requests[0]["headers"]["Authorization"] == "Bearer pyn_test"


def test_a_url_ending_in_the_api_prefix_is_accepted(api):
    api.route("GET", "/me", (200, ME))
    with Client(api.url + "/api/v1/", "pyn_x") as c:
        assert c.me().id == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, ValidationError), (401, AuthError), (403, PermissionDenied), (404, NotFound),
     (422, ValidationError), (409, ApiError), (500, ServerError), (503, ServerError)],
)  # fmt: skip
def test_refusals_become_the_matching_error_with_the_servers_detail(api, client, status, cls):
    api.route("GET", "/runs/3", problem(status, f"detail for {status}"))

    with pytest.raises(cls) as caught:
        client.runs.get(3)

    assert type(caught.value) is cls
    assert caught.value.status == status and caught.value.detail == f"detail for {status}"
    assert str(caught.value) == f"detail for {status}"


def test_a_validation_error_carries_the_field_errors(api, client):
    errors = [{"loc": ["body", "detector_config_id"], "msg": "No such configuration."}]
    api.route("POST", "/runs", problem(422, "No such configuration.", errors=errors))

    with pytest.raises(ValidationError) as caught:
        client.runs.start(dataset_id=1, detector_config_id=99)

    assert caught.value.errors == errors


def test_rate_limiting_tells_how_long_to_wait(api, client):
    api.route("GET", "/me", (*problem(429, "Slow down."), {"Retry-After": "7"}))

    with pytest.raises(RateLimited) as caught:
        client.me()

    assert caught.value.retry_after == 7 and caught.value.detail == "Slow down."


def test_a_non_json_error_page_still_gives_a_readable_error(api, client):
    api.route("GET", "/me", (502, b"<html>Bad Gateway</html>"))

    with pytest.raises(ServerError) as caught:
        client.me()

    assert "502" in str(caught.value) and "<html>" not in str(caught.value)


def test_an_unreachable_server_is_a_connection_error():
    with (
        Client("http://127.0.0.1:9", "pyn_x", timeout=2) as c,
        pytest.raises(ConnectionFailed) as caught,
    ):
        c.me()
    assert caught.value.status == 0 and "cannot reach" in str(caught.value)


# ------------------------------------------------------------------ pagination
def test_lists_follow_cursors_to_the_last_page(api, client):
    pages = {None: ([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "c2"),
             "c2": ([{"id": 3, "name": "c"}], "c3"), "c3": ([{"id": 4, "name": "d"}], None)}  # fmt: skip

    def answer(req):
        items, nxt = pages[req["query"].get("cursor")]
        return 200, {"items": items, "next_cursor": nxt}

    api.route("GET", "/datasets", answer)

    datasets = client.datasets.list(limit=2)

    assert [d.id for d in datasets] == [1, 2, 3, 4]
    assert [r["query"].get("cursor") for r in api.requests] == [None, "c2", "c3"]
    assert all(r["query"]["limit"] == "2" for r in api.requests)


def test_results_come_back_as_one_dataframe_across_pages(api, client):
    rows = [
        {"row_id": i, "score": i / 10, "label": int(i > 7), "severity": 10.0 * i} for i in range(10)
    ]

    def answer(req):
        start = int(req["query"].get("cursor") or 0)
        size = int(req["query"]["limit"])
        nxt = str(start + size) if start + size < len(rows) else None
        return 200, {"items": rows[start : start + size], "next_cursor": nxt}

    api.route("GET", "/runs/7/results", answer)

    frame = client.runs.results(7, page_size=4, only_anomalies=True, order="row_id")

    assert isinstance(frame, pd.DataFrame) and len(frame) == 10
    assert list(frame.columns) == ["row_id", "score", "label", "severity"]
    assert frame["row_id"].tolist() == list(range(10))
    assert len(api.requests) == 3
    assert api.requests[0]["query"]["only_anomalies"] == "true"
    assert api.requests[0]["query"]["order"] == "row_id"


# ------------------------------------------------------------------ uploads, runs, scoring
def test_upload_streams_the_file_with_its_length_and_waits_for_ingestion(api, client, tmp_path):
    data = b"a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(200_000))
    path = tmp_path / "numbers.csv"
    path.write_bytes(data)
    api.route("PUT", "/datasets/stream", (202, {"id": 5, "name": "numbers", "status": "ingesting"}))
    api.sequence("GET", "/datasets/5", [
        (200, {"id": 5, "status": "ingesting"}),
        (200, {"id": 5, "name": "numbers", "status": "ready",
               "latest_version": {"id": 9, "number": 1, "rows": 200_000, "columns": 2}}),
    ])  # fmt: skip

    dataset = client.datasets.upload(path, progress=False, wait=True, poll=0.01)

    put = api.requests[0]
    assert put["body"] == data
    assert put["headers"]["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in put["headers"]
    assert put["headers"]["Content-Type"] == "application/octet-stream"
    assert put["query"] == {"name": "numbers", "filename": "numbers.csv"}
    assert dataset.status == "ready" and dataset.latest_version.rows == 200_000


def test_a_failed_ingestion_raises_with_the_servers_reason(api, client, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x\n1\n")
    api.route("PUT", "/datasets/stream", (202, {"id": 6, "status": "ingesting"}))
    api.route("GET", "/datasets/6", (200, {"id": 6, "status": "failed", "error": "No rows."}))

    with pytest.raises(IngestFailed, match="No rows."):
        client.datasets.upload(path, progress=False, wait=True, poll=0.01)


def test_waiting_for_a_run_follows_it_to_success(api, client):
    api.route("POST", "/runs", (202, RUN))
    api.sequence("GET", "/runs/7", [
        (200, {**RUN, "status": "running", "stage": "fitting", "percent": 30}),
        (*problem(429, "Slow down."), {"Retry-After": "0"}),
        (200, {**RUN, "status": "running", "stage": "scoring", "percent": 80}),
        (200, {**RUN, "status": "succeeded", "stage": "done", "percent": 100, "trained_model_id": 3,
               "summary": {"rows": 400, "anomalies": 20}}),
    ])  # fmt: skip

    run = client.runs.start(dataset_id=1, detector_config_id=2, label_column="y")
    done = run.wait(poll=0.01, progress=False)

    assert done is run and run.status == "succeeded" and run.trained_model_id == 3
    assert json.loads(api.requests[0]["body"]) == {"dataset_id": 1, "detector_config_id": 2,
                                                   "label_column": "y"}  # fmt: skip


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_waiting_for_a_run_that_fails_raises_run_failed(api, client, status):
    api.route("GET", "/runs/7", (200, {**RUN, "status": status, "error": "LOF ran out of memory"}))

    with pytest.raises(RunFailed, match=f"run 7 {status}: LOF ran out of memory") as caught:
        client.runs.get(7).wait(poll=0.01, progress=False)

    assert caught.value.run.status == status


def test_waiting_gives_up_after_the_timeout(api, client):
    api.route("GET", "/runs/7", (200, {**RUN, "status": "running"}))
    with pytest.raises(TimeoutError):
        client.runs.get(7).wait(poll=0.05, timeout=0.2, progress=False)


def test_scoring_splits_long_lists_into_batches_and_sends_nan_as_null(api, client):
    def answer(req):
        n = len(json.loads(req["body"])["records"])
        return 200, {
            "scores": [0.5] * n,
            "labels": [0] * n,
            "severity": [50.0] * n,
            "threshold": 0.9,
        }

    api.route("POST", "/models/3/score", answer)
    frame = pd.DataFrame({"a": [1.0, math.nan] * 1250, "b": ["x", None] * 1250})

    result = client.models.score(3, frame, batch_size=1000)

    assert [len(json.loads(r["body"])["records"]) for r in api.requests] == [1000, 1000, 500]
    assert json.loads(api.requests[0]["body"])["records"][1] == {"a": None, "b": None}
    assert len(result.scores) == 2500 and result.threshold == 0.9


def test_download_writes_the_file_whole(api, client, tmp_path):
    api.route(
        "GET",
        "/runs/7/results/download",
        (200, b"row_id,score\n0,0.5\n", {"Content-Type": "text/csv"}),
    )
    target = tmp_path / "out.csv"

    client.runs.download(7, target, progress=False)

    assert target.read_bytes() == b"row_id,score\n0,0.5\n"
    assert api.requests[0]["query"] == {"format": "csv"}
    assert not list(tmp_path.glob(".*part"))


# ------------------------------------------------------------------ the config file
def test_the_login_is_written_readable_by_its_owner_only(config_file):
    old = os.umask(0)  # even with a permissive umask
    try:
        written = config.save_login("http://srv", "pyn_secret")
    finally:
        os.umask(old)

    assert written == config_file
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    assert config.load_login() == {"url": "http://srv", "token": "pyn_secret"}
    assert [p.name for p in config_file.parent.iterdir()] == ["config.json"]  # no temp file left


def test_rewriting_the_login_narrows_a_widened_file(config_file):
    config.save_login("http://srv", "pyn_a")
    os.chmod(config_file, 0o644)
    assert not config.is_private()

    config.save_login("http://srv", "pyn_b")

    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600 and config.is_private()


def test_xdg_config_home_is_respected(tmp_path, monkeypatch):
    monkeypatch.delenv("PYNOMALY_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    assert config.config_path() == tmp_path / "xdg" / "pynomaly" / "config.json"


def test_logout_deletes_the_login(config_file):
    config.save_login("http://srv", "pyn_a")
    assert config.delete_login() is True
    assert config.load_login() is None and config.delete_login() is False


# ------------------------------------------------------------------ the remote CLI in-process
def test_cli_login_checks_the_token_and_stores_it_privately(api, config_file, capsys):
    api.route("GET", "/me", (200, ME))

    code = cli.main(["login", api.url, "--token", "pyn_good"])

    assert code == 0, capsys.readouterr().err
    assert "alice@example.com" in capsys.readouterr().out
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert json.loads(config_file.read_text()) == {"url": api.url, "token": "pyn_good"}


def test_cli_login_prompts_for_the_token_when_none_is_given(api, config_file, monkeypatch):
    api.route("GET", "/me", (200, ME))
    monkeypatch.setattr("getpass.getpass", lambda prompt: "pyn_prompted")

    assert cli.main(["login", api.url]) == 0
    assert api.requests[0]["headers"]["Authorization"] == "Bearer pyn_prompted"


def test_cli_login_with_a_bad_token_says_why_and_stores_nothing(api, config_file, capsys):
    api.route("GET", "/me", problem(401, "Invalid or expired token."))

    code = cli.main(["login", api.url, "--token", "pyn_bad"])

    err = capsys.readouterr().err
    assert code == 2 and "error: Invalid or expired token." in err and "Traceback" not in err
    assert not config_file.exists()


def test_remote_commands_without_a_login_ask_for_one(config_file, capsys):
    assert cli.main(["datasets", "list"]) == 2
    assert "pynomaly login" in capsys.readouterr().err


def test_a_server_failure_exits_1_and_a_refusal_exits_2(api, config_file, capsys):
    config.save_login(api.url, "pyn_x")
    api.route("GET", "/runs/7", problem(500, "Internal error, logged."))
    api.route("POST", "/runs", problem(422, "dataset 4 is not ready (status: ingesting)."))

    assert cli.main(["runs", "watch", "7"]) == 1
    assert "error: Internal error, logged." in capsys.readouterr().err
    assert cli.main(["runs", "start", "--dataset", "4", "--detector-config", "2"]) == 2
    assert "error: dataset 4 is not ready (status: ingesting)." in capsys.readouterr().err


def test_watching_a_failed_run_exits_1_with_its_error(api, config_file, capsys):
    config.save_login(api.url, "pyn_x")
    api.route(
        "GET", "/runs/7", (200, {**RUN, "status": "failed", "error": "CBLOF failed: no clusters"})
    )

    code = cli.main(["runs", "watch", "7"])

    assert code == 1 and "CBLOF failed: no clusters" in capsys.readouterr().err


def test_score_with_a_number_that_is_no_file_scores_on_the_server(
    api, config_file, tmp_path, capsys
):
    config.save_login(api.url, "pyn_x")
    api.route("POST", "/models/12/score",
              (200, {"scores": [0.1, 0.9], "labels": [0, 1], "severity": [10.0, 99.0], "threshold": 0.5}))  # fmt: skip
    records = tmp_path / "records.jsonl"
    records.write_text('{"a": 1, "b": 2}\n\n{"a": 9, "b": 9}\n')
    out = tmp_path / "scores.jsonl"

    code = cli.main(["score", "12", str(records), "-o", str(out)])

    assert code == 0, capsys.readouterr().err
    assert json.loads(api.requests[0]["body"]) == {"records": [{"a": 1, "b": 2}, {"a": 9, "b": 9}]}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"row": 0, "score": 0.1, "label": 0, "severity": 10.0},
                     {"row": 1, "score": 0.9, "label": 1, "severity": 99.0}]  # fmt: skip


def test_score_with_an_existing_file_named_like_a_number_stays_local(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "12").write_bytes(b"not a model")
    (tmp_path / "data.csv").write_text("a\n1\n")

    code = cli.main(["score", "12", "data.csv"])

    assert code == 2 and "checksum" in capsys.readouterr().err  # the local loader refused it


def test_remote_score_names_the_bad_line_of_the_records(api, config_file, tmp_path, capsys):
    config.save_login(api.url, "pyn_x")
    records = tmp_path / "records.jsonl"
    records.write_text('{"a": 1}\n{"a": \n')

    assert cli.main(["score", "12", str(records)]) == 2
    assert "line 2 is not JSON" in capsys.readouterr().err


def test_the_environment_takes_the_place_of_the_login_file(config_file, monkeypatch):
    config.save_login("http://file", "pyn_file")
    monkeypatch.setenv("PYNOMALY_URL", "http://ci")
    monkeypatch.setenv("PYNOMALY_TOKEN", "pyn_ci")

    assert config.load_login() == {"url": "http://ci", "token": "pyn_ci"}


def test_an_unreadable_login_file_is_named_and_an_incomplete_one_is_no_login(config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text("{not json")
    with pytest.raises(ValueError, match=f"cannot read {config_file}"):
        config.load_login()

    config_file.write_text('{"url": "http://srv"}')
    assert config.load_login() is None


def test_a_missing_login_file_counts_as_private(config_file):
    assert config.is_private() is True


# ------------------------------------------------------------------ ONNX export
def test_exporting_a_model_writes_the_onnx_file_whole(api, client, tmp_path):
    api.route("GET", "/models/12/export", (200, b"\x08\x07onnx-bytes", {"Content-Type": "application/octet-stream"}))  # fmt: skip
    target = tmp_path / "model.onnx"

    assert client.models.export(12, target) == target

    assert target.read_bytes() == b"\x08\x07onnx-bytes"
    assert api.requests[0]["query"] == {"format": "onnx"}
    assert not list(tmp_path.glob(".*part"))


def test_a_model_the_server_cannot_export_raises_its_reason_and_writes_nothing(
    api, client, tmp_path
):
    from pynomaly.client import ApiError

    api.route("GET", "/models/12/export", problem(409, "no ONNX converter for detector 'knn'"))
    target = tmp_path / "model.onnx"

    with pytest.raises(ApiError, match="no ONNX converter for detector 'knn'") as err:
        client.models.export(12, target)

    assert err.value.status == 409
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="onnx"):
        client.models.export(12, target, format="pmml")
