"""The explain engine: which method, additivity, the file, progress and cancel; segment hints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pynomaly import detect
from pynomaly import explain as E
from pynomaly import segments as S
from pynomaly.errors import Cancelled
from pynomaly.scores import Threshold


def fitted_on(keys, n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("wxyz"))
    df.loc[:9, "y"] = np.resize([1, -1], 10) * np.linspace(6, 15, 10)  # spread: not a cluster
    config = detect.PipelineConfig(
        detectors=tuple((k, {}) for k in keys), threshold=Threshold("top_k", 10)
    )
    fitted, result = detect.detect(df, config)
    return df, fitted, result


@pytest.mark.parametrize(
    ("keys", "method"),
    [(["iforest"], "tree_shap"), (["ecod"], "native"), (["copod"], "native"),
     (["hbos"], "sampling_shap"), (["iforest", "hbos"], "sampling_shap")],
)  # fmt: skip
def test_each_pipeline_gets_its_method_and_attributions_add_up(keys, method):
    df, fitted, result = fitted_on(keys)
    ex = E.explain_result(
        fitted, df, result.scores, result.labels, contributions=result.contributions
    )
    assert ex.method == method and len(ex) == 10
    planted = ex.row_ids < 10
    # Which rows a detector flags is its business (ECOD ranks values, so on 300 rows a +15
    # is no rarer than the largest normal value); the planted ones it flags are explained by y.
    assert planted.sum() >= 1
    assert (np.array(ex.feature_names)[np.argmax(ex.values[planted], axis=1)] == "y").all()
    assert np.allclose(ex.base_value + ex.values.sum(axis=1), ex.outputs, atol=1e-6)
    if method == "native":  # the explained output is the recorded score itself
        assert np.allclose(ex.outputs, ex.scores)
        rescored = E.explain_result(fitted, df, result.scores, result.labels)  # scored again
        assert np.allclose(rescored.base_value + rescored.values.sum(1), rescored.outputs)
    if method == "tree_shap":  # monotone with the score: the order of rows agrees
        assert np.corrcoef(ex.outputs, ex.scores)[0, 1] > 0.95
    if method == "tree_shap":
        assert list(ex.importance())[0] == "y"


def test_the_explanations_file_round_trips(tmp_path):
    df, fitted, result = fitted_on(["ecod"])
    ex = E.explain_result(fitted, df, result.scores, result.labels)
    E.write(ex, tmp_path / "x.parquet")
    back = E.read(tmp_path / "x.parquet")
    assert back.method == "native" and back.feature_names == ex.feature_names
    assert np.array_equal(back.row_ids, ex.row_ids) and np.allclose(back.values, ex.values)
    first = back.row(int(ex.row_ids[0]))["attributions"][0]["feature"]
    assert first == ex.feature_names[int(np.argmax(np.abs(ex.values[0])))]
    assert back.row(12345) is None


def test_it_reports_progress_per_row_and_stops_on_request():
    df, fitted, result = fitted_on(["knn"])
    seen = []
    E.explain_result(fitted, df, result.scores, result.labels, max_rows=4,
                     progress=lambda *a: seen.append(a))  # fmt: skip
    assert seen[-1] == ("explaining", 4, 4) and ("explaining", 2, 4) in seen
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        E.explain_result(fitted, df, result.scores, result.labels,
                         should_stop=lambda: next(calls))  # fmt: skip


def test_it_explains_flagged_rows_highest_first_within_the_cap():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.2])
    labels = np.array([0, 1, 1, 1, 0])
    assert E.rows_to_explain(scores, labels, 2).tolist() == [1, 3]
    assert E.rows_to_explain(scores, np.zeros(5), 3).tolist() == [1, 3, 2]  # none flagged: top
    assert E.rows_to_explain(scores, labels, 0).tolist() == []


def test_reasons_name_only_features_that_push_the_score_up():
    top = E.top_attributions(np.array([[0.5, -2.0, 0.1]]), ["a", "b", "c"], 3)
    assert [t["feature"] for t in top[0]] == ["a", "c"]


def test_segment_hints_find_the_over_represented_value_with_its_lift():
    rng = np.random.default_rng(0)
    n = 1000
    region = np.where(rng.random(n) < 0.1, "north", "south").astype(object)
    flagged = np.zeros(n, dtype=bool)
    flagged[np.flatnonzero(region == "north")[:30]] = True
    flagged[np.flatnonzero(region == "south")[:10]] = True
    shift = rng.choice(["a", "b"], size=n)  # unrelated to the anomalies
    hints = S.segment_hints({"region": region, "shift": shift}, flagged)
    assert [(h["column"], h["value"]) for h in hints] == [("region", "north")]
    h = hints[0]
    assert h["anomalies"] == 30 and h["share_anomalies"] == pytest.approx(0.75)
    assert h["lift"] == pytest.approx(0.75 / (region == "north").mean())
    assert h["p_value"] < 1e-6
    assert "region = north" in S.describe(h) and "lift" in S.describe(h)


def test_segment_hints_skip_free_text_and_need_flagged_rows():
    import pyarrow as pa

    ids = pa.array([f"id-{i}" for i in range(200)])
    assert not S.is_categorical(ids)
    assert S.is_categorical(pa.array(["a", "b"] * 100))
    assert S.segment_hints({"k": np.array(["a"] * 10)}, np.zeros(10, dtype=bool)) == []


def test_a_time_budget_keeps_the_rows_explained_so_far_and_says_so():
    df, fitted, result = fitted_on(["knn"])
    ex = E.explain_result(fitted, df, result.scores, result.labels, max_seconds=0.0)
    assert len(ex) == 1 and len(ex.values) == len(ex.outputs) == 1  # the top row at least
    assert ex.row_ids[0] == int(np.argmax(result.scores))
    assert "1 of 10 rows explained" in ex.notes[0]
