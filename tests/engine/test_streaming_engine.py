"""pynomaly.streaming without Django: validation, batch-equal scores, reasons, learners, drift."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pynomaly.detect import PipelineConfig, Threshold, fit
from pynomaly.streaming import (
    DriftMonitor,
    ModelScorer,
    OnlineScorer,
    Schema,
    StreamEngine,
    buckets,
    decimate,
    decode,
)


def frame(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    df.loc[:14, "b"] += 8
    return df


@pytest.fixture(scope="module")
def fitted():
    config = PipelineConfig(
        detectors=(("iforest", {}),), threshold=Threshold("contamination", 0.02)
    )
    return fit(frame(), config)


def messages(df: pd.DataFrame):
    records = df.to_dict("records")
    payloads = [orjson.dumps({"id": i, **r}) for i, r in enumerate(records)]
    return (
        payloads,
        [f"{i}-0" for i in range(len(records))],
        [1_800_000_000.0 + i / 100 for i in range(len(records))],
    )


def test_scores_flags_and_severity_equal_a_batch_run(fitted):
    df = frame(seed=4)
    engine = StreamEngine(ModelScorer(fitted.scorer()), id_field="id")
    batch = fitted.score(df)
    p, c, r = messages(df)
    seen: dict[str, tuple[float, float]] = {}
    total = 0
    for start in range(0, len(df), 400):  # micro-batches of 400
        out = engine.process(p[start : start + 400], c[start : start + 400], r[start : start + 400])
        total += out.records
        seen.update({a.event_id: (a.score, a.severity) for a in out.anomalies})
    flagged = np.flatnonzero(batch.labels)
    assert total == len(df)
    assert sorted(seen, key=int) == [str(i) for i in flagged]
    for i in flagged:
        assert seen[str(i)] == (batch.scores[i], batch.severity[i])


def test_reasons_name_the_feature_that_stands_out(fitted):
    engine = StreamEngine(ModelScorer(fitted.scorer()), id_field="id")
    out = engine.process([b'{"id": "x", "a": 0.1, "b": 9.5, "c": -0.2}'], ["1-0"], [0.0])
    (anomaly,) = out.anomalies
    assert anomaly.reasons[0]["column"] == "b"
    assert anomaly.reasons[0]["value"] == 9.5
    assert anomaly.reasons[0]["kind"] == "z-score" and anomaly.reasons[0]["contribution"] > 5


def test_bad_messages_become_dead_letters_with_precise_reasons():
    schema = Schema.of_numbers(["a", "b"])
    payloads = [
        b'{"a": 1, "b": 2}',
        b"{nope",
        b'"text"',
        b'{"a": 1}',
        b'{"a": "1", "b": 2}',
        b'{"a": true, "b": 2}',
        b'{"a": 1, "b": 2.5, "t": "2026-12-02T07:00:00Z"}',
    ]
    batch = decode(payloads, [f"{i}-0" for i in range(7)], [5.0] * 7, schema)
    assert [r["a"] for r in batch.records] == [1, 1]
    reasons = [d.reason for d in batch.dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "not a JSON object of field: value pairs (got text)"
    assert reasons[2].startswith("missing field 'b'")
    assert reasons[3] == "field 'a' must be a number, got text '1'"
    assert reasons[4] == "field 'a' must be a number, got true/false True"
    timed = decode(payloads[-1:], ["9-0"], [5.0], schema, time_field="t")
    assert timed.event_times[0] == pd.Timestamp("2026-12-02T07:00:00Z").timestamp()
    huge = decode([b'{"a": 1, "b": 2, "x": "' + b"y" * 70_000 + b'"}'], ["8-0"], [5.0], schema)
    assert huge.dead[0].reason == "record over 64 KiB" and not huge.records
    untimed = decode(payloads[:1], ["9-0"], [5.0], schema, time_field="t")
    assert untimed.dead[0].reason.startswith("event time field 't' is not")


def test_event_times_in_seconds_milliseconds_or_iso_text_and_the_ones_refused():
    schema = Schema.of_numbers(["a"])
    given = {
        b"1796600000.25": 1796600000.25,  # float seconds (the inline path)
        b"1796600000": 1796600000.0,  # integer seconds
        b"1796600000250": 1796600000.25,  # milliseconds
        b"1796600000250.0": 1796600000.25,  # milliseconds as a float
        b'"2026-12-07T01:00:00+01:00"': pd.Timestamp("2026-12-07T00:00:00Z").timestamp(),
        b"0.0": 0.0,
    }
    payloads = [b'{"a": 1, "t": %s}' % t for t in given]
    batch = decode(payloads, [f"{i}-0" for i in range(len(payloads))], [5.0] * len(payloads),
                   schema, time_field="t")  # fmt: skip
    assert list(batch.event_times) == list(given.values()) and not batch.dead
    refused = [b"-1.0", b"33000000000.0", b"99999999999999.0", b"true", b'"yesterday"', b"null"]
    payloads = [b'{"a": 1, "t": %s}' % t for t in refused]
    batch = decode(payloads, [f"{i}-0" for i in range(len(refused))], [5.0] * len(refused),
                   schema, time_field="t")  # fmt: skip
    assert not batch.records and len(batch.dead) == len(refused)
    assert all(d.reason.startswith("event time field 't' is not") for d in batch.dead)


def test_an_event_id_comes_from_the_record_or_the_broker():
    schema = Schema.of_numbers(["a"])
    batch = decode(
        [b'{"a": 1, "id": 7}', b'{"a": 2}'], ["1-0", "2-0"], [0.0, 0.0], schema, id_field="id"
    )
    assert batch.event_ids == ["7"]
    assert batch.dead[0].reason == "missing event id field 'id'"
    texts = decode([b'{"a": 1, "id": "e-1"}', b'{"a": 1, "id": 1.5}'], ["1-0", "2-0"], [0.0, 0.0],
                   schema, id_field="id")  # fmt: skip
    assert texts.event_ids == ["e-1"]
    assert texts.dead[0].reason == "event id field 'id' must be text or an integer, got float"
    assert decode([b'{"a": 1}'], ["1-0"], [0.0], schema).event_ids == ["1-0"]


def _online_scores(learner: str, X: np.ndarray) -> tuple[np.ndarray, set[str]]:
    columns = list("abcd")[: X.shape[1]]
    payloads = [orjson.dumps(dict(zip(columns, row, strict=True))) for row in X.tolist()]
    engine = StreamEngine(OnlineScorer(columns, {"contamination": 0.01}, learner=learner))
    scores, flagged = [], set()
    for start in range(0, len(X), 500):  # 500 points a batch: none decimated, in order
        chunk = slice(start, start + 500)
        ids = [str(i) for i in range(len(X))][chunk]
        out = engine.process(payloads[chunk], ids, [0.0] * len(ids))
        scores.append(out.points[:, 1])
        flagged |= {a.event_id for a in out.anomalies}
    return np.concatenate(scores), flagged


def test_half_space_trees_flag_outliers_in_any_direction():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 3))
    planted = np.arange(2500, 3000, 50)
    X[planted] += rng.choice([-8.0, 8.0], size=(len(planted), 3))
    scores, flagged = _online_scores("hst", X)
    assert len({str(i) for i in planted} & flagged) >= 5
    truth = np.zeros(3000, dtype=bool)
    truth[planted] = True
    assert roc_auc_score(truth[2000:], scores[2000:]) > 0.95


def test_the_one_class_svm_finds_incidents_that_push_one_way():
    from pynomaly.demo import server_metrics

    df = server_metrics()
    X = df[["cpu_pct", "memory_pct", "p95_latency_ms", "error_pct"]].to_numpy(dtype=float)
    scores, _ = _online_scores("ocsvm", X)
    assert roc_auc_score(df["incident"].to_numpy(), scores) > 0.85


def test_drift_is_seen_in_the_column_that_moved():
    rng = np.random.default_rng(2)
    monitor = DriftMonitor(["steady", "moving"])
    before = rng.normal(size=(20_000, 2))
    after = rng.normal(size=(20_000, 2)) + [0.0, 3.0]
    alarms = {}
    for chunk in np.array_split(np.vstack([before, after]), 40):
        alarms |= monitor.update(chunk, now=100.0)
    assert set(alarms) == {"moving"}
    assert monitor.state(now=150.0) == {"steady": False, "moving": True}


def test_buckets_and_points_summarise_a_batch():
    times = np.array([10.1, 10.9, 11.5, 11.6])
    scores = np.array([0.1, 0.5, 0.2, 0.9])
    flagged = scores > 0.4
    assert buckets(times, scores, flagged) == [(10, 2, 1, 0.1, 0.5, 0.6), (11, 2, 1, 0.2, 0.9, 1.1)]
    many = np.linspace(0, 100, 10_000)
    values = np.zeros(10_000)
    values[1234] = 5.0
    points = decimate(many, values, values > 1, limit=500)
    assert len(points) <= 500
    assert points[:, 1].max() == 5.0 and points[points[:, 1] == 5.0][0, 2] == 1.0
