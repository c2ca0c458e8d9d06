"""Trained time-series models (pynomaly.ts_model): saved without pickle, refused when
tampered with, and scoring the same data exactly as before the reload."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from pynomaly import catalogue, timeseries, ts_detectors, ts_model
from pynomaly.errors import ArtifactError, DataError

N = 240
# Small settings where the defaults would make a test slow (torch epochs, windows).
PARAMS = {
    "lstmad": {"epochs": 1, "hidden_size": 8, "window_size": 10},
    "anomalytransformer": {"epochs": 1, "d_model": 8, "n_heads": 2, "window_size": 16},
    "matrixprofile": {"window_size": 20},
    "timeseriesod": {"window_size": 12},
    "sand": {"window_size": 20, "batch_size": 60},
    "kshape": {"window_size": 20, "max_iter": 5},
    "windowfeatures": {"window_size": 6},
}
RUNNABLE = [s.key for s in catalogue.list_detectors(family=ts_detectors.FAMILY) if s.available]


def _fleet(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Two sensors with a daily-ish cycle and a spike each."""
    rng = np.random.default_rng(seed)
    parts = []
    for sensor, phase in (("a", 0.0), ("b", 1.3)):
        t = np.arange(n)
        value = np.sin(t / 9 + phase) + 0.1 * rng.normal(size=n)
        value[n // 2] += 4
        parts.append(
            pd.DataFrame(
                {
                    "time": pd.date_range("2025-01-01", periods=n, freq="h"),
                    "sensor": sensor,
                    "value": value,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


OPTIONS = timeseries.SeriesOptions("time", ("value",), "sensor")


def _trained(key: str, df: pd.DataFrame | None = None):
    df = _fleet() if df is None else df
    result = timeseries.detect(df, OPTIONS, key=key, params=PARAMS.get(key, {}))
    return df, result, ts_model.TimeSeriesModel.from_result(result)


def _roundtrip(model: ts_model.TimeSeriesModel) -> ts_model.TimeSeriesModel:
    data = ts_model.dumps(model)
    return ts_model.loads(data, sha256=hashlib.sha256(data).hexdigest())


def test_every_runnable_time_series_detector_is_marked_saveable():
    assert RUNNABLE, "no time-series detector can run here"
    assert all(catalogue.get_detector(k).saveable for k in RUNNABLE)


@pytest.mark.parametrize("key", RUNNABLE)
def test_a_reloaded_model_scores_exactly_like_the_one_that_was_saved(key, tmp_path):
    df, result, model = _trained(key)
    path = tmp_path / f"model{ts_model.SUFFIX}"
    digest = ts_model.save(model, path)

    reloaded = ts_model.load(path, sha256=digest)
    before, after = model.score(df), reloaded.score(df)

    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_array_equal(after.labels, before.labels)
    assert after.threshold == before.threshold == result.threshold
    assert reloaded.input_columns == ["time", "value", "sensor"]
    assert set(reloaded.series) == {"a", "b"}


@pytest.mark.parametrize("key", [k for k in RUNNABLE if k != "sand"])
def test_scoring_the_training_data_gives_the_scores_of_the_run_that_trained_it(key):
    # SAND updates its clusters while it streams through the training series, so its fit
    # scores are not those of its final clusters; every other detector scores them again.
    df, result, model = _trained(key)

    scored = _roundtrip(model).score(df)

    np.testing.assert_allclose(scored.scores, result.scores, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(scored.labels, result.labels)


def test_new_data_is_scored_on_the_training_scale_and_its_spike_flagged():
    _, _, model = _trained("timeseriesod")
    fresh = _fleet(seed=7)

    scored = _roundtrip(model).score(fresh)

    spikes = [N // 2, N + N // 2]
    assert scored.labels[spikes].all()
    assert scored.labels.mean() < 0.2


def test_the_file_holds_no_pickle_and_names_its_format_version():
    _, _, model = _trained("spectralresidual")
    data = ts_model.dumps(model)

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # would raise on a pickle
        header = json.loads(npz["header"].tobytes())
    assert header["format"] == "pynomaly-ts-model"
    assert header["format_version"] == ts_model.FORMAT_VERSION
    assert ts_model.is_ts_model(data)


def test_a_modified_file_is_refused_before_it_is_read(tmp_path):
    _, _, model = _trained("spectralresidual")
    path = tmp_path / "model.npz"
    digest = ts_model.save(model, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match="checksum mismatch"):
        ts_model.load(path, sha256=digest)


def test_bytes_that_are_not_a_model_are_refused_with_a_clear_error():
    junk = b"not a model at all"
    with pytest.raises(ArtifactError, match="not a readable time-series model"):
        ts_model.loads(junk, sha256=hashlib.sha256(junk).hexdigest())


def _rewrite(data: bytes, **changes) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    header = json.loads(members["header"].tobytes())
    header.update(changes)
    members["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out = io.BytesIO()
    np.savez(out, **members)
    return out.getvalue()


def test_an_unknown_format_version_is_refused():
    _, _, model = _trained("spectralresidual")
    data = _rewrite(ts_model.dumps(model), format_version=99)

    with pytest.raises(ArtifactError, match="format version 99 is not supported"):
        ts_model.loads(data, sha256=hashlib.sha256(data).hexdigest())


def test_a_model_naming_a_tabular_detector_is_refused():
    _, _, model = _trained("spectralresidual")
    data = _rewrite(ts_model.dumps(model), key="iforest")

    with pytest.raises(ArtifactError, match="not a time-series detector"):
        ts_model.loads(data, sha256=hashlib.sha256(data).hexdigest())


def test_a_base_detector_of_an_untrusted_type_is_refused():
    import skops.io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    _, _, model = _trained("timeseriesod")
    with np.load(io.BytesIO(ts_model.dumps(model)), allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    evil = skops.io.dumps(Pipeline([("f", FunctionTransformer(print))]))
    members["s0.base"] = np.frombuffer(evil, np.uint8)
    out = io.BytesIO()
    np.savez(out, **members)
    data = out.getvalue()

    with pytest.raises(ArtifactError, match="does not trust"):
        ts_model.loads(data, sha256=hashlib.sha256(data).hexdigest())


def test_data_without_the_value_column_is_refused_naming_it():
    df, _, model = _trained("spectralresidual")

    with pytest.raises(DataError, match="no column 'value'") as caught:
        model.score(df.drop(columns=["value"]))
    assert caught.value.column == "value"


def test_a_series_the_model_was_not_trained_on_is_refused():
    df, _, model = _trained("spectralresidual")
    df.loc[df["sensor"] == "b", "sensor"] = "c"

    with pytest.raises(DataError, match="series 'c' was not in the data"):
        model.score(df)
