"""Automatic selection (``auto``): unsupervised choice, the labelled path, persistence, the
threshold check and training labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pynomaly import automl, persist, threshold_check
from pynomaly.detect import PipelineConfig, detect, fit
from pynomaly.errors import DataError, ParamError
from pynomaly.scores import Threshold
from pynomaly.train_labels import parse_train_labels

from .conftest import frame_of, make_easy

QUADRATIC_OR_WORSE = {"knn", "lof", "ocsvm"}


def _clustered(n: int = 1500, anomalies: int = 60, seed: int = 0):
    """Anomalies in a tight cluster inside the data's range: unsupervised detectors miss
    most of them (they are dense), labels reveal them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:anomalies] = rng.normal(loc=0.9, scale=0.05, size=(anomalies, 5))
    y = np.r_[np.ones(anomalies), np.zeros(n - anomalies)]
    return X, y


def test_auto_chooses_the_pair_with_the_best_benchmark_mean_and_says_why():
    X, y = make_easy(n_inliers=400, n_outliers=20)
    fitted, result = detect(frame_of(X), PipelineConfig((("auto", {}),)))

    sel = fitted.selection
    assert sel is not None and sel["mode"] == "unsupervised"
    single, pair = automl.load_table().means()
    best = automl.pairs()[int(np.argmax(pair))]
    assert tuple(fitted.keys) == best  # on 420 rows every pair is affordable
    assert pair.max() > single.max()  # a pair beats every single detector on the table
    assert [d["key"] for d in sel["detectors"]] == fitted.keys
    assert sel["headline"].startswith(f"Chosen: {sel['label']} because of the 66 pairs")
    assert f"({pair.max():.3f}; the best single detector" in sel["headline"]
    assert "also considered" in sel["headline"]
    # DevNet (deep, label-trained) is named but not tried by the selection
    assert any(
        "training label column" in a["note"] for a in sel["alternatives"] if a["label"] == "DevNet"
    )
    assert roc_auc_score(y, result.scores) > 0.95


def test_max_detectors_one_chooses_the_best_single_detector():
    X, _ = make_easy(n_inliers=400, n_outliers=20)
    sel = automl.select(X, size=1)
    single, _ = automl.load_table().means()
    assert [k for k, _ in sel.detectors] == [automl.POOL[int(np.argmax(single))]]
    assert sel.reasons[0].startswith("of the 12 pool detectors, it had the best mean")


def test_different_profiles_lead_to_different_neighbours_in_the_table():
    rng = np.random.default_rng(1)
    low = rng.normal(size=(800, 3))
    wide = rng.normal(size=(300, 60)) @ rng.normal(size=(60, 60))  # correlated, many features
    a = automl.select(low)
    b = automl.select(wide)
    assert a.similar != b.similar
    assert a.meta["log_features"] < b.meta["log_features"]
    assert b.meta["correlation"] > a.meta["correlation"]


def test_the_cost_guard_keeps_quadratic_detectors_out_of_a_million_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 10))
    sel = automl.select(X, rows=1_000_000)
    chosen = {k for k, _ in sel.detectors}
    assert chosen and not chosen & QUADRATIC_OR_WORSE
    notes = {a.detectors[0]: a.note for a in sel.alternatives}
    assert "cost guard" in notes["knn"] or "budget" in notes["knn"]


def test_a_table_without_a_set_never_names_it_as_similar():
    table = automl.load_table()
    name = table.names[0]
    rng = np.random.default_rng(3)
    sel = automl.select(rng.normal(size=(300, 4)), table=table.without(name))
    assert name not in sel.similar
    assert len(table.without(name).names) == len(table.names) - 1


def test_with_labels_a_trained_detector_wins_where_unsupervised_ones_fail():
    X, y = _clustered()
    labels = np.full(len(y), np.nan)
    labels[:20] = 1.0  # a third of the anomalies known
    labels[200:400] = 0.0
    df = frame_of(X)
    unlabelled = ~np.isfinite(labels)

    _, plain = detect(df, PipelineConfig((("auto", {}),)))
    fitted, result = detect(df, PipelineConfig((("auto", {}),)), train_labels=labels)

    assert fitted.keys == ["labelboost"]
    sel = fitted.selection
    assert sel["mode"] == "labelled" and sel["labels"]["anomalies"] == 20
    assert "cross-validated" in sel["reasons"][0]
    plain_auc = roc_auc_score(y[unlabelled], plain.scores[unlabelled])
    auto_auc = roc_auc_score(y[unlabelled], result.scores[unlabelled])
    assert auto_auc > plain_auc + 0.2


def test_with_two_labelled_anomalies_auto_raises_the_rows_near_them():
    X, y = _clustered()
    labels = np.full(len(y), np.nan)
    labels[:2] = 1.0  # two of the 60 clustered anomalies known
    df = frame_of(X)
    unlabelled = ~np.isfinite(labels)

    unsupervised, plain = detect(df, PipelineConfig((("auto", {}),)))
    fitted, result = detect(df, PipelineConfig((("auto", {}),)), train_labels=labels)

    sel = fitted.selection
    assert sel["mode"] == "labelled" and sel["labels"]["anomalies"] == 2
    assert fitted.keys == ["labelnear"]  # on the unsupervised choice
    assert sel["detectors"][0]["params"]["base"] == ",".join(unsupervised.keys)
    assert sel["headline"].startswith("Chosen: LabelNear on ")
    assert "2 known anomalies are too few to cross-validate" in sel["reasons"][0]
    notes = [a["note"] for a in sel["alternatives"]]
    assert any("at least 20 labelled anomalies (got 2)" in n for n in notes)
    plain_auc = roc_auc_score(y[unlabelled], plain.scores[unlabelled])
    auto_auc = roc_auc_score(y[unlabelled], result.scores[unlabelled])
    assert auto_auc > plain_auc + 0.2


def test_label_near_scores_new_rows_as_it_scored_the_training_rows():
    from pynomaly.supervised import LabelNear

    X, y = _clustered(n=600, anomalies=30)
    labels = np.where(np.arange(len(y)) < 3, 1.0, np.nan)
    det = LabelNear(base="iforest,hbos", random_state=0).fit(X, labels)

    np.testing.assert_allclose(det.decision_function(X), det.decision_scores_)
    near, far = X[3:30], X[30:]  # the unlabelled cluster members and the normal rows
    assert det.decision_function(near).min() > np.quantile(det.decision_function(far), 0.9)
    # an analyst's "not an anomaly" on one cluster member lowers the rows next to it
    labels[3] = 0.0
    corrected = LabelNear(base="iforest,hbos", random_state=0).fit(X, labels)
    drop = det.decision_function(X) - corrected.decision_function(X)
    assert drop[3] > 0.9  # the row itself
    assert drop[4:30].mean() > 5 * drop[30:].mean()  # its cluster, far more than the rest
    with pytest.raises(ValueError, match="at least one known anomaly"):
        LabelNear().fit(X, np.zeros(len(X)))


@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("labelboost", {"booster": "lightgbm", "base": "iforest,hbos"}),
        ("labelboost", {"booster": "xgbod", "base": "iforest,hbos"}),
        ("labelnear", {"base": "iforest,knn"}),
    ],
)
def test_a_label_trained_model_reloads_with_identical_scores(tmp_path, key, params):
    X, y = _clustered(n=600, anomalies=30)
    labels = np.where(np.arange(len(y)) < 15, 1.0, np.nan)
    df = frame_of(X)
    fitted = fit(df, PipelineConfig(((key, params),)), train_labels=labels)
    path = tmp_path / "model.skops"
    persist.save(fitted, path)

    loaded = persist.load(path)

    np.testing.assert_array_equal(loaded.score(df).scores, fitted.score(df).scores)
    untrusted = persist.trusted_types([key])
    assert not any("pickle" in t or "builtins.eval" in t for t in untrusted)


def test_an_auto_model_keeps_its_selection_when_saved(tmp_path):
    X, _ = make_easy()
    fitted = fit(frame_of(X), PipelineConfig((("auto", {}),)))
    persist.save(fitted, tmp_path / "m.skops")
    loaded = persist.load(tmp_path / "m.skops")
    assert loaded.selection == fitted.selection
    assert loaded.keys == fitted.keys


def test_a_label_trained_detector_refuses_to_fit_without_labels():
    X, _ = make_easy()
    with pytest.raises(DataError, match="trained on labels"):
        fit(frame_of(X), PipelineConfig((("labelboost", {}),)))


def test_auto_cannot_be_combined_with_other_detectors():
    with pytest.raises(ParamError, match="on its own"):
        PipelineConfig((("auto", {}), ("iforest", {})))


def test_the_automatic_threshold_is_flagged_when_it_flags_far_more_than_expected():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 6))
    X[:30] += 6  # 1 % anomalies
    y = (np.arange(3000) < 30).astype(float)
    df = frame_of(X)
    _, auto = detect(df, PipelineConfig((("ecod", {}),), threshold=Threshold("auto")))
    _, fixed = detect(
        df, PipelineConfig((("ecod", {}),), threshold=Threshold("contamination", 0.01))
    )

    report = threshold_check.check(auto.scores, auto.threshold, kind="auto", labels=y)
    calm = threshold_check.check(fixed.scores, fixed.threshold, kind="contamination")

    assert report["flagged_share"] > 0.04  # what the user would have seen, silently
    assert report["expected_share"] < 0.03
    assert "automatic threshold flags" in report["warning"]
    assert calm["warning"] is None
    suggested = report["suggested"]
    assert suggested["f1"] > 0.9
    assert abs(suggested["flagged_share"] - 0.01) < 0.005


def test_the_best_f1_cut_ignores_unlabelled_rows():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.95, 5.0])
    labels = np.array([0, 0, np.nan, 1, 1, np.nan])
    cut = threshold_check.best_f1_cut(scores, labels)
    assert cut is not None and cut["f1"] == 1.0
    assert 0.2 < cut["threshold"] < 0.9
    assert threshold_check.best_f1_cut(scores, np.full(6, np.nan)) is None


def test_training_labels_accept_one_zero_and_empty_and_refuse_the_rest():
    parsed = parse_train_labels(pd.Series(["1", "0", "", None, " 1 "]), "known")
    np.testing.assert_array_equal(parsed, [1.0, 0.0, np.nan, np.nan, 1.0])
    np.testing.assert_array_equal(
        parse_train_labels(pd.Series([1, 0, np.nan]), "known"), [1.0, 0.0, np.nan]
    )
    with pytest.raises(DataError, match=r"'known'.*2 row\(s\).*'yes'"):
        parse_train_labels(pd.Series(["1", "yes", "maybe"]), "known")
    with pytest.raises(DataError, match="1 row"):
        parse_train_labels(pd.Series([1, 0, 2]), "known")


def test_labelled_rows_are_kept_in_a_fit_sample():
    X, _ = make_easy(n_inliers=2000, n_outliers=20)
    labels = np.full(len(X), np.nan)
    labels[-20:] = 1.0
    config = PipelineConfig((("auto", {}),), max_fit_rows=200)
    fitted = fit(frame_of(X), config, train_labels=labels)
    assert fitted.selection["labels"]["anomalies"] == 20


def test_auto_does_better_than_chance_on_a_real_set_it_did_not_learn_from(adbench):
    X, y = adbench("42_WBC")
    table = automl.load_table().without("42_WBC")
    with automl.using_table(table):
        fitted, result = detect(frame_of(X), PipelineConfig((("auto", {}),)))
    assert "42_WBC" not in fitted.selection["similar"]
    assert roc_auc_score(y, result.scores) > 0.85
