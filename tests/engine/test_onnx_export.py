"""ONNX export (pynomaly.onnx_export, `pynomaly export`) and the edge scorer (edge/, pynomaly-edge)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pynomaly_edge import EdgeModel
from pynomaly_edge.model import EdgeError

from pynomaly.cli import main
from pynomaly.detect import fit
from pynomaly.onnx_export import NotExportable, export_onnx, exportable
from pynomaly.persist import save
from pynomaly.pipeline import PipelineConfig

EDGE = [sys.executable, "-m", "pynomaly_edge.cli"]


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n) * 3 + 10,
            "c": rng.choice(["x", "y", "z"], n),
        }
    )
    df.loc[3, "a"] = np.nan  # imputed with the training median
    df.loc[0, "b"] = 80.0  # an obvious outlier
    return df


def _fitted(key: str, df: pd.DataFrame):
    return fit(df, PipelineConfig(detectors=((key, {}),)).validated())


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


@pytest.mark.parametrize("key", ["iforest", "pca"])
def test_edge_scores_raw_records_like_the_platform(key):
    df = _frame()
    fitted = _fitted(key, df)
    model = EdgeModel(export_onnx(fitted))
    got = model.score(_records(df))
    expected = fitted.score(df)
    scores = np.array([r["score"] for r in got])
    spread = np.ptp(expected.scores)
    assert np.abs(scores - expected.scores).max() <= 1e-5 * max(spread, 1.0)
    assert [r["anomaly"] for r in got] == [bool(v) for v in expected.labels]
    assert got[0]["anomaly"] is True


def test_ensembles_and_unconverted_detectors_are_refused():
    df = _frame()
    ensemble = fit(df, PipelineConfig(detectors=(("iforest", {}), ("pca", {}))).validated())
    assert "single-detector" in (exportable(ensemble) or "")
    with pytest.raises(NotExportable):
        export_onnx(ensemble)
    with pytest.raises(NotExportable, match="no ONNX converter"):
        export_onnx(_fitted("ecod", df))


def test_a_graph_that_disagrees_is_refused(monkeypatch):
    fitted = _fitted("iforest", _frame())
    real = fitted.score_array

    def shifted(X, **kw):
        result = real(X, **kw)
        return type(result)(**{**result.__dict__, "scores": result.scores + 0.01})

    monkeypatch.setattr(fitted, "score_array", shifted)
    with pytest.raises(NotExportable, match="differ"):
        export_onnx(fitted)


def test_cli_export_then_edge_scores_csv_and_stdin(tmp_path: Path):
    df = _frame()
    fitted = _fitted("iforest", df)
    save(fitted, tmp_path / "model.skops")
    onnx = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.skops"), "--format", "onnx", "-o", str(onnx)]) == 0
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    expected = fitted.score(df).scores
    out = subprocess.run([*EDGE, str(onnx), str(csv)], capture_output=True, text=True, check=True)
    scores = np.array([json.loads(line)["score"] for line in out.stdout.splitlines()])
    assert np.abs(scores - expected).max() < 1e-5
    ndjson = "\n".join(json.dumps(r) for r in _records(df))
    out = subprocess.run(
        [*EDGE, str(onnx)], input=ndjson, capture_output=True, text=True, check=True
    )
    scores = np.array([json.loads(line)["score"] for line in out.stdout.splitlines()])
    assert np.abs(scores - expected).max() < 1e-5


def test_cli_export_refuses_an_ensemble(tmp_path: Path, capsys):
    df = _frame()
    save(
        fit(df, PipelineConfig(detectors=(("iforest", {}), ("pca", {}))).validated()),
        tmp_path / "m.skops",
    )
    code = main(["export", str(tmp_path / "m.skops"), "-o", str(tmp_path / "m.onnx")])
    assert code != 0
    assert "single-detector" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_edge_imports_neither_django_nor_pyod_nor_pandas(tmp_path: Path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(export_onnx(_fitted("iforest", _frame())))
    stdin = json.dumps({"a": 1, "b": 10, "c": "x"}) + "\n"
    code = (
        "import io, sys\n"
        f"sys.stdin = io.StringIO({stdin!r})\n"
        "from pynomaly_edge.cli import main\n"
        f"main([{str(onnx)!r}])\n"
        "roots = ('django', 'pyod', 'pandas', 'sklearn', 'torch', 'pynomaly')\n"
        "print('BAD', [m for m in sys.modules if m.split('.')[0] in roots])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "BAD []" in out.stdout
    assert '"score"' in out.stdout


def test_edge_bad_input_is_a_message_not_a_traceback(tmp_path: Path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(export_onnx(_fitted("iforest", _frame())))
    out = subprocess.run(
        [*EDGE, str(onnx)],
        input='{"a": "oops", "b": 1, "c": "x"}\n',
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "non-numeric" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*EDGE, str(onnx)], input='{"b": 1}\n', capture_output=True, text=True)
    assert out.returncode == 2 and "'a'" in out.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(EdgeError):
        EdgeModel.load(str(bad))
