"""The remote CLI in-process against the fake server: what each command prints or writes,
and the mistakes it refuses before talking to the server."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from pynomaly import cli, config
from tests.engine.test_client_unit import ME, FakeApi, config_file  # noqa: F401 - fixture

ROWS = [
    {"row_id": 0, "score": 0.2, "label": 0, "severity": 10.0},
    {"row_id": 1, "score": 2.5, "label": 1, "severity": 99.0},
]


@pytest.fixture
def api(config_file):  # noqa: F811
    fake = FakeApi()
    config.save_login(fake.url, "pyn_x")
    yield fake
    fake.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_login_refuses_a_url_without_scheme_and_an_empty_token(capsys, monkeypatch):
    code, _, err = run(capsys, "login", "pynomaly.example.com", "--token", "t")
    assert code == 2 and "must start with http:// or https://" in err

    monkeypatch.setattr("getpass.getpass", lambda prompt: "")
    code, _, err = run(capsys, "login", "https://pynomaly.example.com")
    assert code == 2 and "no token given" in err


def test_whoami_names_the_user_and_logout_forgets_them(api, capsys):
    api.route("GET", "/me", (200, ME))

    code, out, _ = run(capsys, "whoami")
    assert code == 0 and "alice@example.com" in out

    assert run(capsys, "logout")[0] == 0
    code, out, _ = run(capsys, "logout")
    assert code == 0 and "not logged in" in out


def test_a_login_file_others_can_read_is_warned_about(api, config_file, capsys):  # noqa: F811
    api.route("GET", "/me", (200, ME))
    os.chmod(config_file, 0o644)

    code, _, err = run(capsys, "whoami")

    assert code == 0 and "readable by other users" in err


def test_a_broken_login_file_is_a_usage_error(api, config_file, capsys):  # noqa: F811
    config_file.write_text("{broken")

    code, _, err = run(capsys, "whoami")

    assert code == 2 and "cannot read" in err


def test_datasets_list_prints_json_when_asked(api, capsys):
    api.route("GET", "/datasets", (200, {"items": [{"id": 4, "name": "pay"}], "next_cursor": None}))

    code, out, _ = run(capsys, "datasets", "list", "--json")

    assert code == 0 and json.loads(out) == [{"id": 4, "name": "pay"}]


def test_uploading_a_missing_file_is_refused_before_any_request(api, capsys, tmp_path):
    code, _, err = run(capsys, "datasets", "upload", str(tmp_path / "nope.csv"))

    assert code == 2 and "no such file" in err and api.requests == []


def test_results_go_to_stdout_as_csv_or_to_a_parquet_file(api, capsys, tmp_path):
    body = b"row_id,score,severity,predicted_anomaly,reasons\n1,2.5,99.0,1,x (+3.1)\n"
    api.route("GET", "/runs/7/results/download", (200, body, {"Content-Type": "text/csv"}))

    code, out, _ = run(capsys, "runs", "results", "7", "--with-data")
    assert code == 0 and out == body.decode()
    assert api.requests[-1]["query"]["data"] == "true"
    assert api.requests[-1]["query"]["format"] == "csv"

    frame = pd.DataFrame(ROWS)
    buffer = tmp_path / "x.parquet"
    frame.to_parquet(buffer)
    api.route("GET", "/runs/7/results/download", (200, buffer.read_bytes(), {"Content-Type": "x"}))
    target = tmp_path / "anomalies.parquet"
    code, _, err = run(capsys, "runs", "results", "7", "--only-anomalies", "-o", str(target))
    assert code == 0 and "written to" in err
    assert pd.read_parquet(target)["row_id"].tolist() == [0, 1]
    assert api.requests[-1]["query"]["only_anomalies"] == "true"
    assert api.requests[-1]["query"]["format"] == "parquet"


def test_remote_scoring_refuses_what_only_applies_to_local_models(api, capsys, tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text('{"a": 1}\n')

    code, _, err = run(capsys, "score", "12", str(records), "--sha256", "0" * 64)
    assert code == 2 and "--sha256 checks a local model file" in err

    code, _, err = run(capsys, "score", "12", str(records), "-o", str(tmp_path / "out.csv"))
    assert code == 2 and "must end in .jsonl" in err

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = run(capsys, "score", "12", str(empty))
    assert code == 2 and "no records" in err
    assert api.requests == []


def test_remote_scoring_reads_a_json_array_and_writes_json_lines(api, capsys, tmp_path):
    api.route("POST", "/models/12/score",
              (200, {"scores": [0.1, 0.9], "labels": [0, 1], "severity": [5.0, 99.0], "threshold": 0.5}))  # fmt: skip
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"a": 1}, {"a": 2}]))
    target = tmp_path / "scores.jsonl"

    code, _, err = run(capsys, "score", "12", str(records), "-o", str(target))

    assert code == 0 and "1 anomalies" in err
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[1] == {"row": 1, "score": 0.9, "label": 1, "severity": 99.0}


def test_remote_scoring_names_a_missing_records_file(api, capsys, tmp_path):
    code, _, err = run(capsys, "score", "12", str(tmp_path / "nope.jsonl"))

    assert code == 2 and "no such file" in err


def test_export_with_a_model_id_downloads_the_onnx_file_from_the_server(api, tmp_path, capsys):
    api.route("GET", "/models/12/export", (200, b"onnx!", {"Content-Type": "application/octet-stream"}))  # fmt: skip
    out = tmp_path / "edge.onnx"

    code, _, err = run(capsys, "export", "12", "-o", str(out))

    assert code == 0, err
    assert out.read_bytes() == b"onnx!"
    assert f"wrote {out} (5 bytes, ONNX) from model 12" in err


def test_export_of_a_model_the_server_refuses_exits_2_with_the_reason(api, tmp_path, capsys):
    from tests.engine.test_client_unit import problem

    api.route("GET", "/models/12/export", problem(409, "only single-detector pipelines export"))

    code, _, err = run(capsys, "export", "12", "-o", str(tmp_path / "m.onnx"))

    assert code == 2
    assert "error: only single-detector pipelines export" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()
    code, _, err = run(capsys, "export", "12", "--sha256", "ab", "-o", str(tmp_path / "m.onnx"))
    assert code == 2 and "server model id" in err
