"""ONNX export of PyOD's torch detectors (pynomaly.onnx_export through torch.onnx) and the
edge scorer on them. Tiny data and 2 epochs: these check that the graph computes the
platform's score, not detection quality."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from pynomaly_edge import EdgeModel

from pynomaly import catalogue
from pynomaly.cli import main
from pynomaly.detect import fit
from pynomaly.onnx_export import (
    DEEP_RTOL,
    EXPORTABLE,
    NotExportable,
    export_onnx,
    exportable,
    rtol_for,
)
from pynomaly.persist import load, save
from pynomaly.pipeline import PipelineConfig

torch = pytest.importorskip("torch")

EDGE = [sys.executable, "-m", "pynomaly_edge.cli"]
QUICK = {
    "autoencoder": {"epoch_num": 2},
    "deepsvdd": {"epochs": 2},
    "vae": {"epoch_num": 2},
    "lunar": {"n_epochs": 2},
}
DEEP = ["autoencoder", "deepsvdd"]


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n) * 300 + 1e4,  # far from 0: the standardisation matters
            "c": rng.choice(["x", "y", "z"], n),
        }
    )
    df.loc[3, "a"] = np.nan  # imputed with the training median
    df.loc[250, "b"] = 2e4  # an obvious outlier among the held-out rows
    return df


def _fitted(key: str, df: pd.DataFrame):
    params = catalogue.get_detector(key).validate_params(QUICK[key])
    return fit(df, PipelineConfig(detectors=((key, params),)).validated())


def _within(got: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    spread = max(float(np.ptp(expected)), float(np.abs(expected).max()))
    return float(np.abs(got - expected).max()) <= rtol * spread


@pytest.mark.parametrize("key", DEEP)
def test_a_deep_detector_exports_and_onnxruntime_scores_held_out_rows_like_the_platform(key):
    df = _frame()
    train, held_out = df.iloc[:240], df.iloc[240:]
    fitted = _fitted(key, train)
    assert key in EXPORTABLE and exportable(fitted) is None

    data = export_onnx(fitted)

    model = onnx.load_from_string(data)
    assert model.opset_import[0].version == 17
    spec = json.loads({p.key: p.value for p in model.metadata_props}["pynomaly"])
    assert spec["detector"] == key and spec["rtol"] == rtol_for(key) == DEEP_RTOL == 1e-4
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"]
    assert [o.name for o in session.get_outputs()] == ["score"]
    X = fitted.preparer.transform(held_out)
    expected = fitted.score_array(X).scores
    got = session.run(["score"], {"X": X.astype(np.float32)})[0]
    assert got.shape == (len(held_out),)  # the batch axis is dynamic
    assert _within(got.astype(np.float64), expected, DEEP_RTOL)
    one = session.run(["score"], {"X": X[:1].astype(np.float32)})[0]
    assert one.shape == (1,) and _within(one.astype(np.float64), expected[:1], DEEP_RTOL)
    assert int(np.argmax(got)) == 10  # row 250, the outlier, scores highest


@pytest.mark.parametrize("key", DEEP)
def test_a_reloaded_deep_model_file_exports_the_same_graph_scores(key, tmp_path):
    df = _frame()
    fitted = _fitted(key, df)
    save(fitted, tmp_path / "model.skops")
    reloaded = load(tmp_path / "model.skops")
    X = fitted.preparer.transform(df).astype(np.float32)
    scores = [
        ort.InferenceSession(export_onnx(f), providers=["CPUExecutionProvider"]).run(
            ["score"], {"X": X}
        )[0]
        for f in (fitted, reloaded)
    ]
    np.testing.assert_array_equal(scores[0], scores[1])


def test_vae_is_refused_with_its_reason_and_other_deep_detectors_without_a_converter():
    df = _frame(160)
    vae = _fitted("vae", df)
    assert "vae" not in EXPORTABLE
    assert "samples its latent code" in (exportable(vae) or "")
    with pytest.raises(NotExportable, match="samples its latent code"):
        export_onnx(vae)
    with pytest.raises(NotExportable, match="no ONNX converter for detector 'lunar'"):
        export_onnx(_fitted("lunar", df))


def test_a_deep_graph_that_disagrees_beyond_the_tolerance_is_refused(monkeypatch):
    fitted = _fitted("autoencoder", _frame())
    real = fitted.score_array

    def shifted(X, **kw):
        result = real(X, **kw)
        spread = np.ptp(result.scores)
        return type(result)(**{**result.__dict__, "scores": result.scores + 3e-4 * spread})

    monkeypatch.setattr(fitted, "score_array", shifted)
    with pytest.raises(NotExportable, match=r"differ .*limit 0\.0001"):
        export_onnx(fitted)


@pytest.mark.parametrize("key", DEEP)
def test_cli_export_of_a_deep_model_then_the_edge_scores_a_csv_like_the_platform(key, tmp_path):
    df = _frame()
    fitted = _fitted(key, df)
    save(fitted, tmp_path / "model.skops")
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.skops"), "-o", str(onnx_path)]) == 0
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    expected = fitted.score(df)

    out = subprocess.run(
        [*EDGE, str(onnx_path), str(csv)], capture_output=True, text=True, check=True
    )

    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(df)
    assert _within(np.array([r["score"] for r in rows]), expected.scores, DEEP_RTOL)
    # labels agree except for a row within the tolerance of the threshold
    spread = np.ptp(expected.scores)
    clear = np.abs(expected.scores - fitted.threshold_) > DEEP_RTOL * spread
    got_labels = np.array([r["anomaly"] for r in rows])
    assert (got_labels[clear] == expected.labels.astype(bool)[clear]).all()
    assert rows[250]["anomaly"] is True
    records = json.loads(df.iloc[:20].to_json(orient="records"))
    in_process = np.array([r["score"] for r in EdgeModel(onnx_path.read_bytes()).score(records)])
    assert _within(in_process, expected.scores[:20], DEEP_RTOL)


def test_cli_export_refuses_a_vae_model_with_the_reason(tmp_path, capsys):
    save(_fitted("vae", _frame(160)), tmp_path / "vae.skops")
    code = main(["export", str(tmp_path / "vae.skops"), "-o", str(tmp_path / "vae.onnx")])
    assert code != 0
    assert "samples its latent code" in capsys.readouterr().err
    assert not (tmp_path / "vae.onnx").exists()
