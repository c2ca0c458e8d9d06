"""``pynomaly detect -d auto --train-labels C`` locally, and ``runs start -d auto`` remotely."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pynomaly import cli, config
from tests.engine.test_cli import pynomaly
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture


@pytest.fixture
def partly_labelled_csv(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 3))
    X[:12] += 5.0
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["is_anomaly"] = (np.arange(400) < 12).astype(int)
    known = np.full(400, "", dtype=object)
    known[:4], known[200:260] = "1", "0"
    frame["known"] = known
    path = tmp_path / "partly.csv"
    frame.to_csv(path, index=False)
    return path


def test_detect_auto_with_training_labels_says_what_it_chose_and_suggests_a_threshold(
    partly_labelled_csv,
):
    result = pynomaly(
        "detect", partly_labelled_csv, "-d", "auto", "--train-labels", "known",
        "--label-column", "is_anomaly", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Chosen: " in result.stdout and "because" in result.stdout
    assert "threshold flags" in result.stdout
    assert "--threshold-score" in result.stdout and "maximises F1" in result.stdout


def test_detect_refuses_training_labels_other_than_one_zero_or_empty(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"a": np.arange(30.0), "known": ["1", "maybe"] + [""] * 28}).to_csv(
        path, index=False
    )
    result = pynomaly("detect", path, "-d", "auto", "--train-labels", "known")
    assert result.returncode != 0
    assert "'known' must hold 1 (anomaly), 0 (normal) or nothing" in result.stderr
    assert "'maybe'" in result.stderr


def test_runs_start_auto_sends_the_labels_and_prints_the_choice(config_file, capsys):  # noqa: F811
    api = FakeApi()
    try:
        config.save_login(api.url, "pyn_x")
        selection = {"headline": "Chosen: ECOD + IForest because it ranked best."}
        check = {"warning": "The automatic threshold flags 13.0% of the rows, but ...",
                 "suggested": {"threshold": 2.5, "f1": 0.8, "flagged_text": "1.0%"}}  # fmt: skip
        run = {"id": 5, "status": "queued"}
        api.route("POST", "/runs", (202, run))
        api.route("GET", "/runs/5", (200, {**run, "status": "succeeded", "selection": selection,
                                           "summary": {"threshold_check": check}}))  # fmt: skip

        code = cli.main(
            ["runs", "start", "--dataset", "4", "-d", "auto", "--train-labels", "known",
             "--watch", "-q"]
        )  # fmt: skip
        out, err = capsys.readouterr()
    finally:
        api.close()
    assert code == 0, err
    assert json.loads(api.requests[0]["body"]) == {
        "dataset_id": 4, "detector": "auto", "train_labels": "known", "label_column": "",
    }  # fmt: skip
    assert "Chosen: ECOD + IForest" in out and "maximises F1" in out
    assert "warning: The automatic threshold flags" in err
