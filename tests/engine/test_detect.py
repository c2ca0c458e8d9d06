"""The detection pipeline: thresholds, ensembles, progress, cancel, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pynomaly import detect as engine
from pynomaly import pipeline
from pynomaly.detect import PipelineConfig, Threshold, detect, fit, summarize
from pynomaly.errors import Cancelled, DataError, DetectionFailed, ParamError, UnknownDetector
from pynomaly.prepare import PrepareOptions

from .conftest import frame_of, make_easy

IFOREST = (("iforest", {"n_estimators": 50}),)


def _config(**kwargs) -> PipelineConfig:
    return PipelineConfig(detectors=kwargs.pop("detectors", IFOREST), **kwargs)


def test_contamination_flags_that_share_of_rows(easy_frame):
    frame, _ = easy_frame

    _, result = detect(frame, _config(threshold=Threshold("contamination", 0.1)))

    assert result.labels.sum() == pytest.approx(0.1 * len(frame), abs=1)


def test_top_k_flags_exactly_k_rows(easy_frame):
    frame, _ = easy_frame

    _, result = detect(frame, _config(threshold=Threshold("top_k", 7)))

    assert result.labels.sum() == 7
    assert result.scores[result.labels == 1].min() > result.scores[result.labels == 0].max()


def test_top_k_counts_all_rows_even_when_fitting_on_a_sample(easy_frame):
    frame, _ = easy_frame

    fitted, result = detect(frame, _config(threshold=Threshold("top_k", 5), max_fit_rows=100))

    assert fitted.n_train == 100 and len(result.scores) == len(frame)
    assert result.labels.sum() == 5


def test_a_score_threshold_flags_scores_above_it(easy_frame):
    frame, _ = easy_frame

    _, result = detect(frame, _config(threshold=Threshold("score", 0.6)))

    np.testing.assert_array_equal(result.labels, (result.scores > 0.6).astype(np.int8))
    assert result.threshold == 0.6


def test_auto_threshold_finds_the_far_outliers(easy_frame):
    frame, y = easy_frame

    _, result = detect(frame, _config(threshold=Threshold("auto")))

    flagged = result.labels.astype(bool)
    assert flagged[y == 1].mean() >= 0.8  # most true outliers caught
    assert flagged.sum() < 0.2 * len(frame)  # without flagging a fifth of the table


def test_auto_threshold_beats_a_fixed_ten_percent_cut_on_adbench(adbench):
    # The measured reason for the choice (see pynomaly.detect's docstring), kept small.
    from sklearn.metrics import f1_score

    auto_f1, fixed_f1 = [], []
    for name in ("29_Pima", "39_vertebral", "42_WBC", "47_yeast", "14_glass", "37_Stamps"):
        X, y = adbench(name)
        for key in ("iforest", "ecod"):
            fitted, result = detect(frame_of(X), _config(detectors=((key, {}),)))
            auto = result.scores > fitted.threshold_for(Threshold("auto"))
            auto_f1.append(f1_score(y, auto))
            fixed_f1.append(f1_score(y, result.labels))

    assert np.mean(auto_f1) > np.mean(fixed_f1)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("contamination", 0.9, r"\(0, 0.5\]"),
        ("top_k", 2.5, "whole number"),
        ("score", None, "needs"),
    ],
)
def test_bad_thresholds_are_refused(kind, value, message):
    with pytest.raises(ParamError, match=message):
        Threshold(kind, value)


def test_with_threshold_relabels_without_refitting(easy_frame):
    frame, _ = easy_frame
    fitted, result = detect(frame, _config())

    stricter = fitted.with_threshold(float(np.quantile(result.scores, 0.99)))

    assert stricter.detectors_ is fitted.detectors_
    assert stricter.score(frame).labels.sum() < result.labels.sum()
    assert fitted.threshold_ == result.threshold  # the original is untouched
    assert stricter.config.threshold == Threshold("score", stricter.threshold_)


def test_threshold_for_uses_training_scores(easy_frame):
    frame, _ = easy_frame
    fitted, result = detect(frame, _config())

    cut = fitted.threshold_for(Threshold("top_k", 3))

    assert (result.scores > cut).sum() == 3


@pytest.mark.parametrize("combine", ["average", "maximum", "aom", "moa"])
def test_an_ensemble_combines_standardised_scores(easy_frame, combine):
    frame, y = easy_frame
    config = _config(detectors=(("iforest", {}), ("knn", {}), ("ecod", {})), combine=combine)

    fitted, result = detect(frame, config)

    assert len(fitted.detectors_) == 3
    assert roc_auc_score(y, result.scores) >= 0.95
    assert result.contributions is None  # per-feature scores only for one ECOD/COPOD


def test_averaging_is_the_mean_of_z_scores(easy_frame):
    frame, _ = easy_frame
    config = _config(detectors=(("knn", {}), ("ecod", {})))
    fitted, result = detect(frame, config)
    X = fitted.preparer.transform(frame)

    raw = np.column_stack([d.decision_function(X) for d in fitted.detectors_])
    z = (raw - raw.mean(axis=0)) / raw.std(axis=0)

    np.testing.assert_allclose(result.scores, z.mean(axis=1), atol=1e-9)


def test_ecod_gives_per_feature_contributions_that_sum_to_the_score(easy_frame):
    frame, _ = easy_frame

    _, result = detect(frame, _config(detectors=(("ecod", {}),)))

    assert result.contributions.shape == (len(frame), frame.shape[1])
    np.testing.assert_allclose(result.contributions.sum(axis=1), result.scores)


def test_pca_with_a_constant_column_gives_finite_scores(easy_frame):
    frame, y = easy_frame

    _, result = detect(frame.assign(constant=1.0), _config(detectors=(("pca", {}),)))

    assert np.isfinite(result.scores).all()
    assert roc_auc_score(y, result.scores) > 0.9


def test_pca_with_collinear_columns_keeps_fewer_components_and_says_so(easy_frame):
    frame, y = easy_frame
    frame = frame.assign(double_x0=frame["x0"] * 2, total=frame["x1"] + frame["x2"])

    fitted, result = detect(frame, _config(detectors=(("pca", {}),)))

    assert np.isfinite(result.scores).all()
    assert roc_auc_score(y, result.scores) > 0.9
    assert fitted.detectors_[0].n_components == 4
    assert "only 4 independent directions" in fitted.notes[0]


def test_non_finite_scores_are_refused_naming_the_detector(easy_frame, monkeypatch):
    frame, _ = easy_frame
    real = pipeline._decision

    def broken(key, estimator, X):
        scores = real(key, estimator, X)
        scores[0] = np.inf
        return scores

    monkeypatch.setattr(pipeline, "_decision", broken)
    with pytest.raises(DetectionFailed, match="IForest produced 1 non-finite"):
        detect(frame, _config())


def test_a_failing_algorithm_becomes_detection_failed(easy_frame):
    frame, _ = easy_frame
    # more clusters than rows: KMeans inside CBLOF raises
    config = _config(detectors=(("cblof", {"n_clusters": 500}),))

    with pytest.raises(DetectionFailed, match="^CBLOF failed: "):
        detect(frame, config)


def test_should_stop_cancels_between_steps(easy_frame):
    frame, _ = easy_frame
    calls = []

    def stop_when_fitting():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        detect(frame, _config(), should_stop=stop_when_fitting)


def test_should_stop_cancels_scoring_between_chunks(easy_frame):
    frame, _ = easy_frame
    fitted = fit(frame, _config())
    seen = []

    def progress(stage, done, total):
        seen.append(done)

    with pytest.raises(Cancelled):
        fitted.score(frame, chunk_size=50, progress=progress, should_stop=lambda: len(seen) > 2)
    assert 0 < len(seen) < 7


def test_progress_reports_each_stage_with_increasing_counts(easy_frame):
    frame, _ = easy_frame
    events = []

    detect(
        frame,
        _config(detectors=(("iforest", {}), ("hbos", {}))),
        progress=lambda stage, done, total: events.append((stage, done, total)),
        chunk_size=100,
    )

    stages = [e[0] for e in events]
    assert stages.index("preparing") < stages.index("fitting") < stages.index("scoring")
    for stage in ("preparing", "fitting", "scoring"):
        done = [d for s, d, _ in events if s == stage]
        assert done == sorted(done) and done[-1] == [t for s, _, t in events if s == stage][-1]
    assert [e for e in events if e[0] == "scoring"][-1] == ("scoring", 4, 4)


def test_the_same_seed_gives_the_same_scores(easy_frame):
    frame, _ = easy_frame
    config = _config(detectors=(("iforest", {}), ("loda", {})), seed=3)

    first = detect(frame, config)[1].scores
    again = detect(frame, config)[1].scores
    other = detect(frame, _config(detectors=config.detectors, seed=4))[1].scores

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_threaded_iforest_scoring_matches_sequential_scoring_bit_for_bit():
    X, _ = make_easy(n_inliers=25_000, n_outliers=10)
    fitted = fit(frame_of(X[:500]), _config())
    prepared = fitted.preparer.transform(frame_of(X))

    threaded = fitted.score_array(prepared).scores
    sequential = fitted.detectors_[0].decision_function(prepared)

    assert len(prepared) >= pipeline._THREADED_MIN_ROWS
    np.testing.assert_array_equal(threaded, sequential)


def test_fitting_on_a_sample_still_scores_every_row(easy_frame):
    frame, y = easy_frame

    fitted, result = detect(frame, _config(max_fit_rows=150))

    assert fitted.n_train == 150
    assert len(result.scores) == len(frame)
    assert roc_auc_score(y, result.scores) > 0.9


def test_severity_is_a_monotone_percentile(easy_frame):
    frame, _ = easy_frame

    _, result = detect(frame, _config())

    order = np.argsort(result.scores)
    assert np.all(np.diff(result.severity[order]) >= 0)
    assert 0 <= result.severity.min() and result.severity.max() == 100


def test_summarize_is_json_ready_and_lists_the_top_rows(easy_frame):
    frame, _ = easy_frame
    _, result = detect(frame, _config())

    summary = json.loads(json.dumps(summarize(result, top=5)))

    assert summary["rows"] == len(frame)
    assert summary["anomalies"] == int(result.labels.sum())
    assert set(summary["quantiles"]) == {"min", "p25", "p50", "p75", "p90", "p99", "max"}
    assert [t["row"] for t in summary["top"]] == list(np.argsort(-result.scores)[:5])
    assert summary["top"][0]["score"] == summary["quantiles"]["max"]


def test_config_round_trips_through_json_and_validates():
    config = _config(
        detectors=(("iforest", {"n_estimators": "20"}), ("ecod", {})),
        combine="moa",
        prepare=PrepareOptions(scaling="robust"),
        threshold=Threshold("top_k", 3),
        exclude_columns=("label",),
        max_fit_rows=1000,
    )

    restored = PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert restored == config.validated()
    assert restored.detectors[0][1]["n_estimators"] == 20
    with pytest.raises(UnknownDetector):
        PipelineConfig.from_dict({"detectors": [{"key": "nope"}]})
    with pytest.raises(ParamError):
        PipelineConfig.from_dict({"detectors": [{"key": "knn", "params": {"n_neighbors": 0}}]})


def test_scoring_a_frame_without_a_training_column_fails_clearly(easy_frame):
    frame, _ = easy_frame
    fitted = fit(frame, _config())

    with pytest.raises(DataError, match="'x1'"):
        fitted.score(frame.drop(columns=["x1"]))


def test_mad_refuses_more_than_one_feature(easy_frame):
    frame, _ = easy_frame

    with pytest.raises(DataError, match="MAD works on 1 feature"):
        detect(frame, _config(detectors=(("mad", {}),)))


def test_warm_up_compiles_hbos_without_error():
    engine.warm_up()


def test_a_one_row_table_is_refused():
    with pytest.raises(DataError, match="at least 2 rows"):
        detect(pd.DataFrame({"x": [1.0]}), _config())


def _fit_then_score(frame, config, chunk_size):
    """What detect() computed before it reused the full pass: fit (scoring the sample
    on its own for the threshold and severity grid), then score every row again."""
    fitted = fit(frame, config, chunk_size=chunk_size)
    return fitted, fitted.score(frame, chunk_size=chunk_size)


@pytest.mark.parametrize(
    ("detectors", "threshold", "chunk_size", "n_rows", "mixed"),
    [
        (IFOREST, Threshold("contamination", 0.05), 70, 600, True),
        ((("hbos", {}),), Threshold("auto"), 70, 600, True),
        ((("hbos", {}), ("iforest", {"n_estimators": 30})), Threshold(), 128, 600, True),
        # chunks large enough for threaded IForest scoring, split differently than
        # the sample's rows were
        (IFOREST, Threshold(), 30_000, 45_000, False),
    ],
)
def test_sampled_fit_reuses_the_full_pass_with_identical_results(
    detectors, threshold, chunk_size, n_rows, mixed
):
    X, _ = make_easy(n_inliers=n_rows, n_outliers=n_rows // 50, n_features=5)
    frame = frame_of(X)
    if mixed:  # encoding and imputation run per chunk too
        frame["kind"] = np.where(X[:, 0] > 0, "a", "b")
        frame.loc[::17, "x1"] = np.nan
    config = _config(detectors=detectors, threshold=threshold, max_fit_rows=len(frame) // 3)
    assert all(key in engine._ROW_WISE_SCORING for key, _ in detectors)

    fitted, result = detect(frame, config, chunk_size=chunk_size)
    before, expected = _fit_then_score(frame, config, chunk_size)

    assert fitted.n_train == before.n_train == len(frame) // 3
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_array_equal(result.severity, expected.severity)
    assert result.threshold == expected.threshold == before.threshold_
    np.testing.assert_array_equal(fitted.train_scores_, before.train_scores_)
    np.testing.assert_array_equal(fitted.severity_grid_, before.severity_grid_)
    np.testing.assert_array_equal(fitted.score_mean_, before.score_mean_)
    np.testing.assert_array_equal(fitted.score_std_, before.score_std_)


def test_batch_dependent_detectors_still_score_the_sample_on_its_own(easy_frame):
    frame, _ = easy_frame
    config = _config(detectors=(("ecod", {}),), max_fit_rows=100)
    assert "ecod" not in engine._ROW_WISE_SCORING

    fitted, result = detect(frame, config, chunk_size=50)
    before, expected = _fit_then_score(frame, config, 50)

    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_array_equal(fitted.severity_grid_, before.severity_grid_)
    assert result.threshold == expected.threshold


def test_default_chunks_are_larger_for_batch_ranked_detectors_within_a_cell_bound():
    X, _ = make_easy(n_inliers=2000, n_outliers=0, n_features=10)
    ecod = fit(frame_of(X), _config(detectors=(("ecod", {}),)))
    iforest = fit(frame_of(X), _config())

    assert iforest.chunk_rows() == pipeline.DEFAULT_CHUNK_ROWS
    assert ecod.chunk_rows() == pipeline._BATCH_RANKED_CELLS // 10 - 2000
    assert ecod.chunk_rows(500) == 500  # an explicit size is kept
    ecod.n_train = 1_000_000  # training rows alone over the bound: the plain default
    assert ecod.chunk_rows() == pipeline.DEFAULT_CHUNK_ROWS


def test_ecod_scores_like_pyod_when_the_rows_fit_in_one_default_chunk():
    from pyod.models.ecod import ECOD

    X, _ = make_easy(n_inliers=150_000, n_outliers=300, n_features=3)
    config = PipelineConfig(detectors=(("ecod", {}),), prepare=PrepareOptions.none())

    _, result = detect(frame_of(X), config)

    assert len(X) > pipeline.DEFAULT_CHUNK_ROWS  # one pass only thanks to the larger chunk
    np.testing.assert_allclose(result.scores, ECOD().fit(X).decision_function(X), rtol=0, atol=1e-9)
