"""Explanations are faithful to the detector, measured, not assumed.

Planted data: six features; f1 follows f0 closely (a correlation); 15 rows get one feature
pushed 6 standard deviations out (single-feature outliers) and 15 rows break the
correlation (f1 = -f0, both within the usual range). For every flagged row, replacing its
top-attributed feature by the feature's median must lower the pipeline's score more than
replacing a random other feature. A row's chance of passing is the share of other
features whose replacement lowers the score less (the expectation over the random pick,
without its noise); the bar is 90 % of the flagged rows on average.

The z-score reasons the platform showed before are checked against the same bar on the
correlation breaks, where they name the wrong columns: the test can tell the difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pynomaly import detect
from pynomaly import explain as E
from pynomaly.scores import Threshold

BAR = 0.90
N_ROWS, N_FEATURES, PLANTED = 1000, 6, 15


def planted(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    X[:, 1] = X[:, 0] + 0.1 * rng.normal(size=N_ROWS)
    rows = rng.choice(N_ROWS, size=2 * PLANTED, replace=False)
    for i, r in enumerate(rows[:PLANTED]):
        X[r, 2 + i % (N_FEATURES - 2)] += rng.choice([-1, 1]) * 6
    for r in rows[PLANTED:]:
        a = rng.uniform(1.5, 2.5) * rng.choice([-1, 1])
        X[r, 0], X[r, 1] = a, -a
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(N_FEATURES)])


def faithfulness(fitted, X: np.ndarray, positions: np.ndarray, values: np.ndarray) -> float:
    """Mean over rows of P(drop at the top feature > drop at a random other feature)."""
    f = E.score_function(fitted)
    median = np.median(X, axis=0)
    passed = []
    for i, p in enumerate(positions):
        x = X[p]
        top = int(np.argmax(values[i]))
        replaced = np.repeat(x[None], x.size + 1, axis=0)
        for j in range(x.size):
            replaced[j + 1, j] = median[j]
        scores = f(replaced)
        drops = scores[0] - scores[1:]
        passed.append(np.mean(drops[top] > np.delete(drops, top)))
    return float(np.mean(passed))


def fitted_on_planted(keys: list[str]):
    df = planted()
    config = detect.PipelineConfig(
        detectors=tuple((k, {}) for k in keys),
        threshold=Threshold("contamination", 2 * PLANTED / N_ROWS),
    )
    fitted, result = detect.detect(df, config)
    return df, fitted, result


@pytest.mark.parametrize(
    ("keys", "method"),
    [
        (["iforest"], "tree_shap"),
        (["knn"], "sampling_shap"),
        (["lof"], "sampling_shap"),
        (["ecod"], "native"),
        (["hbos"], "sampling_shap"),
        (["iforest", "knn", "ecod"], "sampling_shap"),
    ],
    ids=["iforest", "knn", "lof", "ecod", "hbos", "ensemble"],
)
def test_the_top_attributed_feature_moves_the_score_most(keys, method):
    df, fitted, result = fitted_on_planted(keys)
    explanation = E.explain_result(
        fitted, df, result.scores, result.labels, contributions=result.contributions
    )
    assert explanation.method == method
    assert len(explanation) == int(result.labels.sum()) > 0
    X = fitted.preparer.transform(df)
    rate = faithfulness(fitted, X, explanation.row_ids, explanation.values)
    assert rate >= BAR, f"{'+'.join(keys)}: {rate:.2f} of flagged rows"


def test_column_zscores_fail_the_bar_on_correlation_breaks():
    # What the reasons column showed before: |z| of the columns, whichever detector ran.
    df, fitted, result = fitted_on_planted(["knn"])
    X = fitted.preparer.transform(df)
    positions = E.rows_to_explain(result.scores, result.labels)
    breaks = positions[np.abs(X[positions, 0] + X[positions, 1]) > 2]  # f1 ≈ -f0
    assert len(breaks) >= 5
    z = np.abs((X - X.mean(0)) / X.std(0))[breaks]
    assert faithfulness(fitted, X, breaks, z) < BAR
    explanation = E.explain_result(fitted, df, result.scores, result.labels)
    rows = np.isin(explanation.row_ids, breaks)
    shap_rate = faithfulness(fitted, X, explanation.row_ids[rows], explanation.values[rows])
    assert shap_rate >= BAR
