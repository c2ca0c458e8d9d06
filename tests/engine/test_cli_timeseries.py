"""``pynomaly detect`` on time series, run in subprocesses as a user would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pynomaly import demo_timeseries

from .test_cli import pynomaly


@pytest.fixture(scope="module")
def fleet_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ts") / "fleet.csv"
    demo_timeseries.sensor_fleet().to_csv(path, index=False)
    return path


def test_it_detects_intervals_per_series_and_writes_the_points(tmp_path, fleet_csv):
    out = tmp_path / "points.parquet"
    done = pynomaly(
        "detect", fleet_csv, "--time-column", "timestamp", "--value-column", "temperature",
        "--id-column", "sensor", "--window", "6", "-d", "WindowFeatures",
        "--contamination", "0.03", "--label-column", "anomaly", "-o", out,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "WindowFeatures on 4 series (temperature by timestamp)" in done.stdout
    assert "in 4 intervals" in done.stdout
    lines = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("sensor-")]
    assert sorted(lines) == ["sensor-a", "sensor-a", "sensor-b", "sensor-c"]
    assert "roc_auc 0.99" in done.stdout
    table = pd.read_parquet(out)
    assert len(table) == 2400 and table["interval"].max() == 3
    assert set(table["series"]) == set(demo_timeseries.SENSORS)


def test_spectral_residual_runs_with_the_detected_time_column_to_csv(tmp_path, fleet_csv):
    out = tmp_path / "points.csv"
    done = pynomaly(
        "detect", fleet_csv, "--id-column", "sensor", "--value-column", "temperature",
        "-d", "spectralresidual", "-o", out, "-q",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    header = out.read_text().splitlines()[0]
    assert header == '"row_id","series","time","score","label","severity","interval"'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id-column", "sensor"], "need a time-series detector"),
        (["-d", "spectralresidual", "--value-column", "nope"], "no column 'nope'"),
        (["-d", "spectralresidual", "-d", "iforest"], "runs alone"),
        (["-d", "matrixprofile", "--window", "700", "--id-column", "sensor"], "not shorter"),
        (["-d", "lstmad", "--param", "epochs=0"], "epochs"),
    ],
)
def test_bad_time_series_arguments_exit_2_with_a_message(fleet_csv, args, message):
    done = pynomaly("detect", fleet_csv, "--value-column", "temperature", *args)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_torch_detector_prints_each_epoch_on_stderr(tmp_path):
    path = tmp_path / "one.csv"
    fleet = demo_timeseries.sensor_fleet()
    fleet[fleet["sensor"] == "sensor-a"].head(200).to_csv(path, index=False)
    done = pynomaly(
        "detect", path, "--time-column", "timestamp", "--value-column", "temperature",
        "-d", "lstmad", "--window", "12", "--param", "epochs=2", "--param", "hidden_size=8",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "epoch 1/2" in done.stderr and "epoch 2/2" in done.stderr
    assert "LSTMAD on 1 series" in done.stdout
