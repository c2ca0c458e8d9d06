"""`pynomaly compare` and `pynomaly bakeoff`: locally on files, and against the fake server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pynomaly import cli, config
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (rng.random(400) < 0.05).astype(int)
    X[y == 1] += 5
    path = tmp_path / "data.csv"
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["y"] = y
    frame.to_csv(path, index=False)
    return path


def test_a_local_bake_off_ranks_the_detectors_against_the_labels(capsys, data):
    code, out, _ = run(capsys, "bakeoff", str(data), "-d", "knn", "-d", "lof",
                       "--label-column", "y", "--param", "knn.n_neighbors=10", "--n-boot", "200")  # fmt: skip

    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("RANK"))
    assert "ROC-AUC [95% CI]" in lines[header]
    ranked = [line.split()[1] for line in lines[header + 1 : header + 3]]
    assert sorted(ranked) == ["knn", "lof"]
    assert "best" in lines[header + 1] and "p " in lines[header + 2]


def test_a_local_bake_off_without_labels_ranks_by_agreement_as_json(capsys, data):
    code, out, _ = run(capsys, "bakeoff", str(data), "-d", "knn", "-d", "lof", "--json",
                       "-q", "--n-boot", "100")  # fmt: skip

    assert code == 0
    board = json.loads(out)
    assert board["labelled"] is False
    assert [e["rank"] for e in board["entries"]] == [1, 2]
    assert board["entries"][0]["consensus_spearman"]["low"] is not None


def test_a_bake_off_needs_two_different_detectors(capsys, data):
    code, _, err = run(capsys, "bakeoff", str(data), "-d", "knn")
    assert code == 2 and "at least two detectors" in err
    code, _, err = run(capsys, "bakeoff", str(data), "-d", "knn", "-d", "knn")
    assert code == 2 and "listed twice" in err


def test_two_local_results_files_are_compared_with_the_labels_of_the_data(capsys, data, tmp_path):
    for key in ("knn", "lof"):
        assert (
            cli.main(["detect", str(data), "-d", key, "-q", "-o", str(tmp_path / f"{key}.parquet")])
            == 0
        )
    capsys.readouterr()

    code, out, _ = run(capsys, "compare", str(tmp_path / "knn.parquet"), str(tmp_path / "lof.parquet"),
                       "--truth", str(data), "--label-column", "y", "--n-boot", "200")  # fmt: skip

    assert code == 0
    first = out.splitlines()[0]
    assert "on ROC-AUC (" in first and ("better than" in first or "No significant" in first)
    assert "DeLong" in out and "paired bootstrap" in out and "Jaccard (flagged)" in out


def test_a_run_id_and_a_file_cannot_be_compared(capsys, data):
    code, _, err = run(capsys, "compare", "12", str(data))
    assert code == 2 and "not one of each" in err


@pytest.fixture
def api(config_file):  # noqa: F811
    fake = FakeApi()
    config.save_login(fake.url, "pyn_x")
    yield fake
    fake.close()


COMPARISON = {
    "a": 1, "b": 2, "labelled": True, "truth_source": "the label column “y”", "level": 0.95,
    "sentence": "B (#2) is better than A (#1) on ROC-AUC (0.91 vs 0.84, p = 0.003).",
    "sentences": ["B (#2) is better than A (#1) on ROC-AUC (0.91 vs 0.84, p = 0.003).",
                  "No significant difference between A (#1) and B (#2) on average precision "
                  "(0.40 vs 0.45, p = 0.2)."],
    "roc_auc": {"a": {"value": 0.84, "low": 0.8, "high": 0.88},
                "b": {"value": 0.91, "low": 0.88, "high": 0.94},
                "test": {"method": "DeLong", "diff": 0.07, "low": 0.02, "high": 0.12,
                         "p_value": 0.003, "p_text": "p = 0.003"}},
    "average_precision": {"a": {"value": 0.4, "low": 0.3, "high": 0.5},
                          "b": {"value": 0.45, "low": 0.35, "high": 0.55},
                          "test": {"method": "paired bootstrap", "diff": 0.05, "low": -0.02,
                                   "high": 0.12, "p_value": 0.2, "p_text": "p = 0.2"}},
    "rank_agreement": {"spearman": {"value": 0.7, "low": 0.6, "high": 0.8}},
    "overlap": {"jaccard": {"value": 0.5, "low": 0.4, "high": 0.6}},
    "sampling": {"rule": "all 1,000 rows"},
}  # fmt: skip


def test_compare_asks_the_server_and_prints_the_sentence_and_the_tests(api, capsys):
    api.route("GET", "/runs/compare", (200, COMPARISON))

    code, out, _ = run(capsys, "compare", "1", "2")

    assert code == 0
    assert out.startswith("B (#2) is better than A (#1) on ROC-AUC (0.91 vs 0.84, p = 0.003).")
    assert "0.910 [0.880, 0.940]" in out and "p = 0.003" in out
    assert api.requests[-1]["query"] == {"a": "1", "b": "2"}


def _run_json(run_id, config_id):
    return {"id": run_id, "status": "queued", "detector_config_id": config_id,
            "dataset_version_id": 30, "summary": {}, "metrics": {}}  # fmt: skip


def test_a_remote_bake_off_starts_the_runs_and_waits_for_the_leaderboard(api, capsys):
    api.route("GET", "/datasets/4", (200, {"id": 4, "latest_version": {"id": 30, "number": 3}}))
    api.route(
        "POST",
        "/datasets/4/versions/3/bakeoff",
        (202, {"runs": [_run_json(11, 1), _run_json(12, 2)], "leaderboard": "/x"}),
    )
    board = {"labelled": True, "pending": 0, "entries": [
        {"rank": 1, "run_id": 12, "detector": "knn (defaults) v1", "vs_best": None,
         "roc_auc": {"value": 0.95, "low": 0.9, "high": 0.98},
         "average_precision": {"value": 0.6, "low": 0.5, "high": 0.7}},
        {"rank": 2, "run_id": 11, "detector": "iforest (defaults) v1",
         "roc_auc": {"value": 0.85, "low": 0.8, "high": 0.9},
         "average_precision": {"value": 0.4, "low": 0.3, "high": 0.5},
         "vs_best": {"roc_auc_diff": -0.1, "roc_auc_p_text": "p < 0.001", "ap_diff": -0.2,
                     "ap_p_text": "p = 0.01"}}]}  # fmt: skip
    api.route("GET", "/datasets/4/versions/3/leaderboard", (200, board))

    code, out, err = run(
        capsys, "bakeoff", "4", "-d", "iforest", "-d", "knn", "--label-column", "y", "--wait"
    )

    assert code == 0, err
    sent = json.loads(next(r for r in api.requests if r["method"] == "POST")["body"])
    assert sent["detectors"] == ["iforest", "knn"] and sent["label_column"] == "y"
    assert "run 11 queued" in err and "run 12 queued" in err
    lines = out.splitlines()
    assert lines[1].startswith("1") and "#12 knn (defaults) v1" in lines[1] and "best" in lines[1]
    assert "-0.100, p < 0.001" in lines[2]
