"""Fast scoring paths behind the fitted pipeline: PyOD's scores bit for bit, on every entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pynomaly import cli, fastscore, persist
from pynomaly.catalogue import get_detector
from pynomaly.detect import PipelineConfig, Threshold, fit
from pynomaly.errors import DataError


def frame(rows: int = 600, seed: int = 0, kind: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    df.loc[:9, ["a", "b", "c"]] += 7
    if kind:
        df["kind"] = np.where(np.arange(rows) % 3 == 0, "x", "y")
    return df


def train(key: str, params: dict | None = None, df: pd.DataFrame | None = None):
    config = PipelineConfig(
        detectors=((key, get_detector(key).validate_params(params or {})),),
        threshold=Threshold("contamination", 0.05),
    )
    return fit(frame() if df is None else df, config)


def pyod_scores(fitted, df: pd.DataFrame) -> np.ndarray:
    return np.asarray(fitted.detectors_[0].decision_function(fitted.preparer.transform(df)))


@pytest.mark.parametrize("params", [{}, {"max_features": 0.5, "n_estimators": 30}])
def test_the_direct_forest_gives_pyods_scores_bit_for_bit(params):
    fitted = train("iforest", params)
    estimator = fitted.detectors_[0]
    X = fitted.preparer.transform(frame(3000, seed=5))

    direct = fastscore.DirectForest(estimator)

    assert np.array_equal(direct.decision_function(X), estimator.decision_function(X))
    assert np.array_equal(direct.decision_function(X[:1]), estimator.decision_function(X[:1]))


def test_a_fitted_forest_scores_through_the_direct_walk_with_pyods_scores():
    fitted = train("iforest")
    rows = frame(200, seed=11)

    (decision,) = fitted.decision_functions()

    assert isinstance(decision.__self__, fastscore.DirectForest)
    assert np.array_equal(fitted.score(rows).scores, pyod_scores(fitted, rows))


@pytest.mark.parametrize("key", ["hbos", "knn"])
def test_a_detector_without_a_fast_path_keeps_pyods_own(key):
    fitted = train(key)
    rows = frame(120, seed=12)

    (decision,) = fitted.decision_functions()

    assert decision.__self__ is fitted.detectors_[0]
    assert np.array_equal(fitted.score(rows).scores, pyod_scores(fitted, rows))


def test_a_forest_whose_direct_walk_disagrees_falls_back_to_pyod(monkeypatch):
    fitted = train("iforest")
    monkeypatch.setattr(
        fastscore.DirectForest, "decision_function", lambda self, X: np.zeros(len(X))
    )

    (decision,) = fastscore.decision_functions(
        fitted.keys, fitted.detectors_, len(fitted.feature_names)
    )

    assert decision.__self__ is fitted.detectors_[0]


def test_a_loaded_model_has_its_fast_paths_checked_at_load(tmp_path):
    path = tmp_path / "forest.skops"
    persist.save(train("iforest"), path)

    loaded = persist.load(path)

    assert loaded._decisions is not None  # built by load, not by a first request
    assert isinstance(loaded._decisions[0].__self__, fastscore.DirectForest)
    assert type(loaded.detectors_[0]).__name__ == "IForest"  # what is saved stays PyOD's


@pytest.mark.parametrize("key", ["iforest", "hbos", "ecod"])
def test_records_score_like_the_frame_they_make(key):
    fitted = train(key)
    records = frame(30, seed=3).to_dict("records")

    result = fitted.scorer().score(records)

    expected = fitted.score(pd.DataFrame(records))
    assert np.array_equal(result.scores, expected.scores)
    assert np.array_equal(result.labels, expected.labels)


def test_plain_numeric_records_skip_pandas_with_the_same_scores():
    fitted = train("iforest", df=frame(kind=False))
    scorer = fitted.scorer()
    records = frame(40, seed=4, kind=False).to_dict("records")
    records[0]["a"] = 3  # an int is a number too

    assert scorer.numeric_columns == ["a", "b", "c"]
    assert scorer.numeric_matrix(records) is not None
    assert np.array_equal(scorer.score(records).scores, pyod_scores(fitted, pd.DataFrame(records)))
    records[1]["b"] = True  # a bool is not a number here: pandas' path decides
    assert scorer.numeric_matrix(records) is None


def test_a_record_without_an_input_column_is_named():
    scorer = train("iforest").scorer()
    records = frame(3, seed=5).to_dict("records")
    del records[1]["c"]

    with pytest.raises(DataError, match="record 1 has no value for column 'c'") as caught:
        scorer.score(records)

    assert caught.value.column == "c"


def test_cli_score_scores_through_the_fast_path(tmp_path, monkeypatch, capsys):
    model, data, out = tmp_path / "m.skops", tmp_path / "new.csv", tmp_path / "scores.csv"
    fitted = train("iforest", df=frame(kind=False))
    persist.save(fitted, model)
    rows = frame(300, seed=9, kind=False)
    rows.to_csv(data, index=False)
    walked = []
    direct = fastscore.DirectForest.decision_function

    def counting(self, X):
        walked.append(len(X))
        return direct(self, X)

    monkeypatch.setattr(fastscore.DirectForest, "decision_function", counting)

    code = cli.main(["score", str(model), str(data), "-o", str(out), "--quiet"])

    assert code == 0, capsys.readouterr().err
    assert 300 in walked
    written = pd.read_csv(out)
    assert np.array_equal(written["score"].to_numpy(), pyod_scores(fitted, rows))
