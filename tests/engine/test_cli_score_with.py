"""``pynomaly runs start --score-with MODEL_ID``: a run that scores with a trained model on
the server (no fit), and the server's refusal as an error exit."""

from __future__ import annotations

import json

import pytest

from pynomaly import cli, config
from pynomaly.client import Client
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture


def test_runs_start_score_with_sends_the_model_and_no_detector(config_file, capsys):  # noqa: F811
    api = FakeApi()
    try:
        config.save_login(api.url, "pyn_x")
        api.route("POST", "/runs", (202, {"id": 8, "status": "queued", "scoring_model_id": 3}))

        code = cli.main(["runs", "start", "--dataset-version", "6", "--score-with", "3"])
        out, err = capsys.readouterr()
    finally:
        api.close()
    assert code == 0, err
    assert json.loads(api.requests[0]["body"]) == {
        "dataset_version_id": 6, "scoring_model_id": 3, "label_column": "",
    }  # fmt: skip
    assert "run 8 queued" in out


def test_runs_start_score_with_reports_a_schema_mismatch_and_exits_non_zero(config_file, capsys):  # noqa: F811
    api = FakeApi()
    problem = {
        "status": 422,
        "title": "Validation failed",
        "detail": "Model #3 reads column 'temperature', which sensors v2 does not have",
        "errors": [{"loc": ["body", "scoring_model_id"], "msg": "Model #3 reads column"}],
    }
    try:
        config.save_login(api.url, "pyn_x")
        api.route("POST", "/runs", (422, problem))

        code = cli.main(["runs", "start", "--dataset", "6", "--score-with", "3"])
        _, err = capsys.readouterr()
    finally:
        api.close()
    assert code != 0
    assert "reads column 'temperature'" in err


def test_score_with_and_a_detector_configuration_are_exclusive(config_file, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exit_:
        cli.main(["runs", "start", "--dataset", "6", "--score-with", "3", "--detector-config", "2"])
    assert exit_.value.code != 0
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_sdk_wants_exactly_one_of_a_detector_and_a_model():
    with Client("http://127.0.0.1:9", token="pyn_x") as client, pytest.raises(ValueError):
        client.runs.start(dataset_id=1, detector_config_id=2, scoring_model_id=3)
