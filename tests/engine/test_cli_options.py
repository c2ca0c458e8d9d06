"""The local CLI in-process: threshold options, detector pages, usage mistakes and the exit
codes a script relies on (0 ok, 1 failed, 2 usage, 130 interrupted)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pynomaly import cli


@pytest.fixture
def data_csv(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    frame.loc[:4, "a"] += 8  # five clear outliers
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("option", "flagged"),
    [(("--top-k", "3"), 3), (("--threshold-score", "1e9"), 0), (("--contamination", "0.05"), 4)],
)
def test_each_threshold_option_decides_how_many_rows_are_flagged(
    capsys, data_csv, tmp_path, option, flagged
):
    out_file = tmp_path / "scores.csv"

    code, out, _ = run(capsys, "detect", str(data_csv), "-d", "hbos", *option, "-o", str(out_file))

    assert code == 0
    assert pd.read_csv(out_file)["label"].sum() == flagged
    assert f"anomalies {flagged:,}" in out


def test_the_automatic_threshold_flags_the_clear_outliers(capsys, data_csv):
    code, out, _ = run(
        capsys, "detect", str(data_csv), "-d", "hbos", "--auto-threshold", "--time-column", "none"
    )

    assert code == 0
    assert "anomalies" in out


def test_a_detector_listed_twice_is_a_usage_error(capsys, data_csv):
    code, _, err = run(capsys, "detect", str(data_csv), "-d", "hbos", "-d", "hbos")

    assert code == 2
    assert "listed twice" in err


def test_an_output_folder_that_does_not_exist_is_refused_before_any_work(
    capsys, data_csv, tmp_path
):
    code, _, err = run(capsys, "detect", str(data_csv), "-o", str(tmp_path / "nope" / "s.csv"))

    assert code == 2
    assert "does not exist" in err


@pytest.mark.parametrize("value", ["0", "many"])
def test_the_chunk_size_must_be_a_positive_whole_number(capsys, data_csv, value):
    with pytest.raises(SystemExit) as caught:
        cli.main(["detect", str(data_csv), "--chunk-size", value])

    assert caught.value.code == 2
    assert ("must be positive" if value == "0" else "not a whole number") in capsys.readouterr().err


def test_an_unknown_family_is_named_with_the_known_ones(capsys):
    code, _, err = run(capsys, "detectors", "--family", "astrology")

    assert code == 2
    assert "unknown family 'astrology'" in err and "proximity" in err


def test_a_detector_page_as_json_holds_its_parameters(capsys):
    code, out, _ = run(capsys, "detectors", "show", "iforest", "--json")

    spec = json.loads(out)
    assert code == 0
    assert spec["key"] == "iforest"
    assert "n_estimators" in {p["name"] for p in spec["params"]}


def test_the_page_of_a_detector_that_cannot_run_says_why(capsys):
    code, out, _ = run(capsys, "detectors", "show", "rgraph")

    assert code == 0
    assert "Available: no" in out and "wrong way" in out


def test_no_command_prints_the_help_with_the_usage_exit_code(capsys):
    code, out, _ = run(capsys)

    assert code == 2
    assert "commands" in out


def _failing_with(monkeypatch, exc: BaseException) -> None:
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "cmd_detectors", boom)


def test_an_interrupt_exits_130(capsys, monkeypatch):
    _failing_with(monkeypatch, KeyboardInterrupt())

    code, _, err = run(capsys, "detectors")

    assert code == 130 and "interrupted" in err


def test_an_unexpected_error_is_reported_as_a_bug_without_a_traceback(capsys, monkeypatch):
    _failing_with(monkeypatch, RuntimeError("boom"))

    code, _, err = run(capsys, "detectors")

    assert code == 1
    assert "unexpected RuntimeError: boom" in err and "--debug" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback_of_an_unexpected_error(monkeypatch):
    _failing_with(monkeypatch, RuntimeError("boom"))

    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", "detectors"])
