"""Scoring records as they arrive: decode, validate, score a micro-batch, watch for drift.

Framework-free: the stream processor (``apps.streams.processor``) hands each polled batch
of raw payloads here and stores what comes back. The hot path per record is one
``orjson.loads``, one ``itemgetter`` and a type check; everything after that (scaling,
the detector, severity, buckets, drift) runs on whole arrays.

* **Validation** (:class:`Schema`): every record must be a JSON object holding each input
  column of the model with a value of the type the model was trained on. A record that is
  not JSON, not an object, lacks a column or holds a wrong type becomes a
  :class:`DeadLetter` with the precise reason; the rest of the batch is scored.
* **Scoring a trained model** (:class:`ModelScorer`): through
  :class:`pynomaly.fastscore.RecordScorer`, the path online scoring and batch runs share,
  so a record's score, flag and severity equal a batch run's over the same rows. (ECOD and
  COPOD rank a batch with the training rows: for them a score depends slightly on the
  micro-batch, see :mod:`pynomaly.fastscore`; IForest, HBOS, KNN … do not.)
* **Reasons** are a run's row reasons: the detector's per-feature contributions when it
  has them (ECOD, COPOD), else the features with the largest |z-score|
  (:func:`pynomaly.results.top_features`) against the training mean/std when the model
  standardised its features, else against the moments of what the stream has seen.
* **Online learning** (:class:`OnlineScorer`): score each record, then learn it, one at a
  time (river has no batch API for these). Measured here (wall time, loaded 2-core machine,
  ROC-AUC against the labels: 10,000 records of the demo ``server_metrics``, label
  ``incident``; 5,000 of ``payments``; 10,000 Gaussian ``blobs`` with 1 % outliers 6 sd
  away in random directions; script: ``tests/streams/learners.py``)::

      learner (river 0.26.1)                  server_metrics  payments  blobs  records/s
      MinMaxScaler | HalfSpaceTrees(25,h=15,w=250)   0.41        0.96     0.97      60-490
      MinMaxScaler | HalfSpaceTrees(25,h=8,w=1000)   0.80        0.80     0.91  1,400-8,600
      MinMaxScaler | HalfSpaceTrees(10,h=8,w=100)    0.50        0.95       -       ~13,000
      StandardScaler | OneClassSVM(nu=0.1)           0.96        0.83     0.48 36,000-54,000
      StandardScaler | OneClassSVM(nu=0.2)           0.88        0.73       -       ~52,000
      MinMaxScaler | LocalOutlierFactor(k=10)        0.77        0.76       -          ~300
      (LOF on 2,000 records only: too slow for more)

  Kept as the default (``hst``): HalfSpaceTrees with h=8, w=1000 — the best mean ROC-AUC
  (0.84 against the SVM's 0.76) and never near chance. river's one-class SVM is linear: it
  is the fastest and the best where every incident pushes the features the same way
  (server_metrics), and no better than chance where outliers lie in any direction
  (blobs); it stays available (``ocsvm``) for the first kind of feed at 5-20x the
  records/s. The threshold is the ``1 - contamination`` quantile of the recent scores
  unless the stream sets one; severity is a score's percentile among those recent scores
  (as a model's is among its training scores). A learner's state lives in its processor:
  a restart learns again from the records that follow.
* **Drift** (:class:`DriftMonitor`): one river ADWIN per feature, fed the means of
  consecutive chunks of :data:`DRIFT_CHUNK` records rather than every record — a per-record,
  per-feature loop would cost more than the scoring (6 µs per update); chunk means keep
  ADWIN's view of the level of each feature at 1/50 of the cost and with less noise.
"""

from __future__ import annotations

import itertools
import math
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from . import results as R
from .errors import EngineError

if TYPE_CHECKING:
    from .fastscore import RecordScorer

MAX_EVENT_ID = 200
MAX_DEAD_PAYLOAD = 64 * 1024
MAX_RECORD_BYTES = 64 * 1024  # a record is stored whole with its anomaly: keep rows small
REASONS_N = 3  # features named per anomaly, as on a run's anomalies table
DRIFT_CHUNK = 50
DRIFT_SHOWN_SECONDS = 300.0  # a column shows as drifting this long after ADWIN's last alarm
RECENT_SCORES = 20_000  # online learners: scores kept for their threshold and severity
DEFAULT_CONTAMINATION = 0.01
MAX_POINTS = 500

_NUMBER = (int, float)
_LATEST = 32503680000.0  # 3000-01-01: a later event time is refused
_PLAIN = frozenset(_NUMBER)  # type(), not isinstance(): true/false is not a number here
_TYPE_NAMES = {
    str: "text",
    bool: "true/false",
    type(None): "null",
    list: "a list",
    dict: "an object",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be scored, with why (the payload cut at 64 KiB)."""

    event_id: str
    reason: str
    payload: str
    received_at: float


@dataclass(frozen=True, slots=True)
class Anomaly:
    event_id: str
    event_time: float
    score: float
    severity: float
    reasons: list[dict[str, Any]]
    record: dict[str, Any]


@dataclass
class Batch:
    """The valid records of a poll, in order, with their ids and event times; and the rest."""

    records: list[dict[str, Any]]
    event_ids: list[str]
    event_times: np.ndarray
    dead: list[DeadLetter]
    # all-numeric schemas: each record's values in column order (plain int/float, checked)
    rows: list[Any] | None = None


@dataclass
class Outcome:
    """What one micro-batch produced: what the store writes and the live page shows."""

    records: int
    anomalies: list[Anomaly]
    dead: list[DeadLetter]
    # per second of event time: start (epoch s), records, flagged, min, max, sum
    buckets: list[tuple[int, int, int, float, float, float]]
    threshold: float
    points: np.ndarray  # (n, 3): epoch ms, score, flagged — decimated to <= MAX_POINTS
    drift: dict[str, bool] = field(default_factory=dict)
    drift_events: dict[str, float] = field(default_factory=dict)  # column -> alarm time


# ---------------------------------------------------------------- validation
@dataclass(frozen=True)
class Schema:
    """The columns a record must hold, each with the kind of value it takes.

    ``kinds``: ``number`` (int or float, not true/false), ``bool`` (true/false or a
    number), ``category`` (text, a number or true/false). ``nullable``: whether ``null``
    is accepted for numbers (the model imputes missing values with the training median).
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    nullable: bool = False

    @classmethod
    def of_preparer(cls, preparer: Any, input_columns: Sequence[str] | None = None) -> Schema:
        steps = {step["column"]: step["kind"] for step in preparer.plan}
        columns = tuple(input_columns or preparer.input_columns)
        kinds = tuple(
            {"numeric": "number", "bool": "bool"}.get(steps.get(c, "numeric"), "category")
            for c in columns
        )
        return cls(columns, kinds, bool(preparer.options.get("impute", True)))

    @classmethod
    def of_numbers(cls, columns: Sequence[str]) -> Schema:
        return cls(tuple(columns), ("number",) * len(columns), False)

    @property
    def all_numbers(self) -> bool:
        return all(k == "number" for k in self.kinds)

    def problem(self, record: dict[str, Any]) -> str | None:
        """Why ``record`` cannot be scored (naming the field), or None."""
        for column, kind in zip(self.columns, self.kinds, strict=True):
            if column not in record:
                return f"missing field '{column}' (the model reads: {', '.join(self.columns)})"
            value = record[column]
            if value is None:
                if kind == "category" or self.nullable:
                    continue
                return f"field '{column}' is null; the model needs a number"
            if kind == "category":
                if isinstance(value, (str, int, float)):
                    continue
                return f"field '{column}' must be text or a number, got {_type_name(value)}"
            if type(value) in _NUMBER or (kind == "bool" and type(value) is bool):
                continue
            return f"field '{column}' must be a number, got {_type_name(value)} {_short(value)}"
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _payload_text(payload: bytes) -> str:
    return payload[:MAX_DEAD_PAYLOAD].decode("utf-8", errors="replace")


def _event_time(value: Any) -> float | None:
    """Epoch seconds from a number (seconds, or milliseconds when > 1e11) or ISO 8601 text."""
    if type(value) in _NUMBER:
        seconds = float(value)
        if seconds > 1e11:
            seconds /= 1000.0
        return seconds if math.isfinite(seconds) and 0 <= seconds < _LATEST else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def decode(
    payloads: Sequence[bytes],
    coordinates: Sequence[str],
    received_at: Sequence[float],
    schema: Schema,
    *,
    id_field: str = "",
    time_field: str = "",
) -> Batch:
    """Parse and validate raw payloads; never raises for a bad message (it becomes a DeadLetter).

    For an all-numeric schema the types of the whole batch are checked in one pass over its
    values; only a batch holding a wrong type is checked again record by record.
    """
    loads = orjson.loads
    JSONError = orjson.JSONDecodeError
    columns = schema.columns
    getter = operator.itemgetter(*columns) if len(columns) > 1 else None
    fast = schema.all_numbers
    records: list[dict[str, Any]] = []
    ids: list[str] = []
    times: list[float] = []
    rows: list[Any] = []
    kept: list[int] = []  # the position in ``payloads`` of each kept record
    dead: list[DeadLetter] = []

    def reject(event_id: str, reason: str, payload: bytes, received: float) -> None:
        dead.append(DeadLetter(event_id, reason, _payload_text(payload), received))

    # The loop runs once per record: attributes and globals are read into locals, and the
    # common cases (an id of text, an event time in float seconds) are tested inline.
    for position, (payload, coords, received) in enumerate(
        zip(payloads, coordinates, received_at, strict=True)
    ):
        if len(payload) > MAX_RECORD_BYTES:
            reject(coords, f"record over {MAX_RECORD_BYTES // 1024} KiB", payload, received)
            continue
        try:
            record = loads(payload)
        except JSONError as exc:
            reject(coords, f"not JSON: {exc}", payload, received)
            continue
        if type(record) is not dict:
            reject(coords, f"not a JSON object of field: value pairs (got {_type_name(record)})",
                   payload, received)  # fmt: skip
            continue
        event_id = coords
        if id_field:
            raw_id = record.get(id_field)
            if type(raw_id) is str or type(raw_id) is int:
                event_id = raw_id if type(raw_id) is str else str(raw_id)
                if not event_id or len(event_id) > MAX_EVENT_ID:
                    reject(coords, f"event id field '{id_field}' is empty or over "
                           f"{MAX_EVENT_ID} characters", payload, received)  # fmt: skip
                    continue
            else:
                reason = (
                    f"missing event id field '{id_field}'"
                    if raw_id is None
                    else f"event id field '{id_field}' must be text or an integer, "
                    f"got {_type_name(raw_id)}"
                )
                reject(coords, reason, payload, received)
                continue
        if fast:
            try:
                values = getter(record) if getter is not None else (record[columns[0]],)
            except KeyError:
                reject(event_id, schema.problem(record) or "missing field", payload, received)
                continue
        else:
            problem = schema.problem(record)
            if problem is not None:
                reject(event_id, problem, payload, received)
                continue
            values = None
        if time_field:
            when = record.get(time_field)
            if type(when) is not float or not 0.0 <= when < _LATEST:  # else seconds already
                when = _event_time(when)
            if when is None:
                reason = (
                    f"event time field '{time_field}' is not epoch seconds/milliseconds "
                    f"or ISO 8601 (got {_short(record.get(time_field))})"
                )
                reject(event_id, reason, payload, received)
                continue
            times.append(when)
        else:
            times.append(received)
        records.append(record)
        ids.append(event_id)
        rows.append(values)
        kept.append(position)
    if fast and records and not _PLAIN.issuperset(map(type, itertools.chain.from_iterable(rows))):
        keep = []
        for i, record in enumerate(records):
            problem = schema.problem(record)
            if problem is None:
                keep.append(i)
            else:
                reject(ids[i], problem, payloads[kept[i]], received_at[kept[i]])
        records = [records[i] for i in keep]
        ids = [ids[i] for i in keep]
        times = [times[i] for i in keep]
        rows = [rows[i] for i in keep]
    return Batch(records, ids, np.asarray(times, dtype=np.float64), dead, rows if fast else None)


# ---------------------------------------------------------------- scorers
class Moments:
    """Running mean and variance per feature (Chan et al.'s merge, one update per batch)."""

    def __init__(self, n_features: int) -> None:
        self.n = 0
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)

    def update(self, X: np.ndarray) -> None:
        if not len(X):
            return
        n_b = len(X)
        mean_b = X.mean(axis=0)
        m2_b = ((X - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n) if self.n else np.zeros_like(self.mean)


@dataclass
class Scores:
    scores: np.ndarray
    flagged: np.ndarray
    severity: np.ndarray
    threshold: float
    features: np.ndarray  # (n, k) the values drift and reasons look at
    feature_names: list[str]
    contributions: np.ndarray | None = None
    zscore_center: np.ndarray | None = None  # None: against the stream's own moments
    zscore_scale: np.ndarray | None = None


class ModelScorer:
    """A trained model's scores for a batch of valid records (the batch-run path)."""

    def __init__(self, scorer: RecordScorer, threshold: float | None = None) -> None:
        self.scorer = scorer
        fitted = scorer.fitted
        self.schema = Schema.of_preparer(fitted.preparer, scorer.input_columns)
        self.threshold = float(fitted.threshold_ if threshold is None else threshold)
        self.feature_names = list(fitted.feature_names)
        preparer = fitted.preparer
        standard = preparer.options.get("scaling") == "standard"
        self._center = np.asarray(preparer.center) if standard else None
        self._scale = np.asarray(preparer.scale) if standard else None

    def score(self, batch: Batch) -> Scores:
        scorer = self.scorer
        fitted = scorer.fitted
        X = encoded = None
        if batch.rows is not None and scorer.numeric_columns == list(self.schema.columns):
            # RecordScorer.numeric_matrix on the values decode() already took and checked
            try:
                encoded = np.array(batch.rows, dtype=np.float64)
            except OverflowError:
                encoded = None
            if encoded is not None and np.isfinite(encoded).all():
                X = fitted.preparer.scale_encoded(encoded)
            else:
                encoded = None
        if X is None:
            X = scorer.numeric_matrix(batch.records)
        if X is None:
            X = fitted.preparer.transform(scorer.records_frame(batch.records))
        with scorer._lock:  # ECOD/COPOD keep per-call state (see RecordScorer)
            result = fitted.score_array(X, chunk_size=len(X))
        if encoded is not None and encoded.shape[1] == X.shape[1]:
            raw = encoded
        elif self._center is not None:
            # prepared = (x - mean) / std: the values are recovered without a second pass
            raw = X * self._scale + self._center
        else:
            raw = X
        return Scores(
            scores=result.scores,
            flagged=R.flags(result.scores, self.threshold),
            severity=result.severity,
            threshold=self.threshold,
            features=raw,
            feature_names=self.feature_names,
            contributions=result.contributions,
            zscore_center=self._center,
            zscore_scale=self._scale,
        )


class OnlineScorer:
    """A river learner that scores each record, then learns it (module note for the choice).

    ``learner``: ``hst`` (MinMaxScaler | HalfSpaceTrees; ``n_trees`` 25, ``height`` 8,
    ``window_size`` 1000, ``seed`` 42) or ``ocsvm`` (StandardScaler | OneClassSVM; ``nu``
    0.1; linear: only for outliers that push the features one way). ``params`` also takes ``contamination`` (0.01): the share of recent scores
    above the threshold when the stream sets none.
    """

    LEARNERS = ("hst", "ocsvm")

    def __init__(
        self,
        columns: Sequence[str],
        params: dict[str, Any],
        threshold: float | None = None,
        *,
        learner: str = "hst",
    ) -> None:
        from river import anomaly, compose, preprocessing

        if learner not in self.LEARNERS:
            raise ValueError(f"unknown online learner {learner!r}")
        if not columns:
            raise ValueError("an online learner needs the feature columns to read")
        self.columns = list(columns)
        self.schema = Schema.of_numbers(self.columns)
        self.model: Any
        if learner == "hst":
            self.model = compose.Pipeline(
                preprocessing.MinMaxScaler(),
                anomaly.HalfSpaceTrees(
                    n_trees=int(params.get("n_trees", 25)),
                    height=int(params.get("height", 8)),
                    window_size=int(params.get("window_size", 1000)),
                    seed=int(params.get("seed", 42)),
                ),
            )
        else:
            self.model = compose.Pipeline(
                preprocessing.StandardScaler(), anomaly.OneClassSVM(nu=float(params.get("nu", 0.1)))
            )
        self.contamination = float(params.get("contamination", DEFAULT_CONTAMINATION))
        self.fixed_threshold = threshold
        self.threshold = math.nan if threshold is None else float(threshold)
        self.recent = np.empty(0)

    def score(self, batch: Batch) -> Scores:
        columns = self.columns
        model = self.model
        records = batch.records
        scores = np.empty(len(records))
        for i, record in enumerate(records):
            x = {c: float(record[c]) for c in columns}
            scores[i] = model.score_one(x)
            model.learn_one(x)
        rows = batch.rows if batch.rows is not None else [[r[c] for c in columns] for r in records]
        features = np.asarray(rows, dtype=np.float64).reshape(len(records), len(columns))
        self.recent = np.concatenate([self.recent, scores])[-RECENT_SCORES:]
        if self.fixed_threshold is not None:
            threshold = float(self.fixed_threshold)
        else:
            threshold = float(np.quantile(self.recent, 1.0 - self.contamination))
        self.threshold = threshold
        grid = np.sort(self.recent)
        severity = 100.0 * np.searchsorted(grid, scores, side="right") / len(grid)
        return Scores(
            scores=scores,
            flagged=R.flags(scores, threshold),
            severity=severity,
            threshold=threshold,
            features=features,
            feature_names=list(self.columns),
        )


class DriftMonitor:
    """Per-feature ADWIN over chunk means (module note); remembers each column's last alarm."""

    def __init__(self, names: Sequence[str], *, chunk: int = DRIFT_CHUNK) -> None:
        from river.drift import ADWIN

        self.names = list(names)
        self.detectors = [ADWIN() for _ in self.names]  # type: ignore[no-untyped-call]
        self.chunk = chunk
        self.carry = np.empty((0, len(self.names)))
        self.last_alarm: dict[str, float] = {}

    def update(self, X: np.ndarray, now: float) -> dict[str, float]:
        """Feed ``X``; the columns that raised an alarm now (column -> time)."""
        data = np.concatenate([self.carry, X]) if len(self.carry) else X
        whole = len(data) // self.chunk * self.chunk
        self.carry = data[whole:].copy()
        alarms: dict[str, float] = {}
        if whole:
            means = data[:whole].reshape(-1, self.chunk, data.shape[1]).mean(axis=1)
            for j, detector in enumerate(self.detectors):
                column = means[:, j]
                if not np.isfinite(column).all():
                    continue
                for value in column.tolist():
                    detector.update(value)  # type: ignore[no-untyped-call]
                    if detector.drift_detected:
                        alarms[self.names[j]] = now
        self.last_alarm.update(alarms)
        return alarms

    def state(self, now: float) -> dict[str, bool]:
        return {
            name: now - self.last_alarm.get(name, -math.inf) < DRIFT_SHOWN_SECONDS
            for name in self.names
        }


# ---------------------------------------------------------------- the engine
class StreamEngine:
    """Decode → validate → score → anomalies, buckets, drift, points: one call per batch."""

    def __init__(
        self, scorer: ModelScorer | OnlineScorer, *, id_field: str = "", time_field: str = ""
    ) -> None:
        self.scorer = scorer
        self.schema = scorer.schema
        self.id_field = id_field
        self.time_field = time_field
        self.moments: Moments | None = None
        self.drift: DriftMonitor | None = None

    def process(
        self,
        payloads: Sequence[bytes],
        coordinates: Sequence[str],
        received_at: Sequence[float],
        *,
        now: float | None = None,
    ) -> Outcome:
        return self.process_batch(self.decode(payloads, coordinates, received_at), now=now)

    def decode(
        self, payloads: Sequence[bytes], coordinates: Sequence[str], received_at: Sequence[float]
    ) -> Batch:
        """The first half of :meth:`process`: parse and validate against the model's schema.

        It reads only the engine's fixed configuration, so another thread may run it
        (the processor's reader thread decodes the next batch while this one is scored)."""
        return decode(
            payloads,
            coordinates,
            received_at,
            self.schema,
            id_field=self.id_field,
            time_field=self.time_field,
        )

    def process_batch(self, batch: Batch, *, now: float | None = None) -> Outcome:
        """The second half of :meth:`process`: score a decoded batch, update drift."""
        now = time.time() if now is None else now
        if not batch.records:
            return Outcome(
                0,
                [],
                batch.dead,
                [],
                float(self.scorer.threshold),
                np.empty((0, 3)),
                self.drift.state(now) if self.drift else {},
            )
        try:
            s = self.scorer.score(batch)
        except (EngineError, ValueError) as exc:
            # What validation lets through should score; if the model still refuses the
            # batch, its records are dead letters with the reason, and the stream goes on.
            reason = f"the model could not score this record's batch: {exc}"
            dead = batch.dead + [
                DeadLetter(event_id, reason, orjson.dumps(record).decode(), float(when))
                for event_id, record, when in zip(
                    batch.event_ids, batch.records, batch.event_times, strict=True
                )
            ]
            return Outcome(0, [], dead, [], float(self.scorer.threshold), np.empty((0, 3)))
        if self.moments is None:
            self.moments = Moments(s.features.shape[1])
            self.drift = DriftMonitor(s.feature_names)
        assert self.drift is not None
        self.moments.update(s.features)
        alarms = self.drift.update(s.features, now)
        anomalies = self._anomalies(batch, s)
        return Outcome(
            records=len(batch.records),
            anomalies=anomalies,
            dead=batch.dead,
            buckets=buckets(batch.event_times, s.scores, s.flagged),
            threshold=s.threshold,
            points=decimate(batch.event_times, s.scores, s.flagged),
            drift=self.drift.state(now),
            drift_events=alarms,
        )

    def _anomalies(self, batch: Batch, s: Scores) -> list[Anomaly]:
        where = np.flatnonzero(s.flagged)
        if not len(where):
            return []
        if s.contributions is not None:
            tops = R.top_features(
                s.contributions[where], s.feature_names, REASONS_N, absolute=False
            )
            kind = "contribution"
        else:
            assert self.moments is not None
            center = s.zscore_center if s.zscore_center is not None else self.moments.mean
            scale = s.zscore_scale if s.zscore_scale is not None else self.moments.std
            z = R.zscores(s.features[where], center, scale)
            tops = R.top_features(z, s.feature_names, REASONS_N, absolute=True)
            kind = "z-score"
        out = []
        for k, i in enumerate(where.tolist()):
            record = batch.records[i]
            reasons = [
                {
                    "column": t["feature"],
                    "value": record.get(t["feature"]),
                    "contribution": t["value"],
                    "kind": kind,
                }
                for t in tops[k]
            ]
            out.append(
                Anomaly(
                    batch.event_ids[i],
                    float(batch.event_times[i]),
                    float(s.scores[i]),
                    float(s.severity[i]),
                    reasons,
                    record,
                )
            )
        return out


def buckets(
    times: np.ndarray, scores: np.ndarray, flagged: np.ndarray
) -> list[tuple[int, int, int, float, float, float]]:
    """Per second of ``times``: (start, records, flagged, min, max, sum of scores)."""
    seconds = np.floor(times).astype(np.int64)
    starts, inverse = np.unique(seconds, return_inverse=True)
    k = len(starts)
    count = np.bincount(inverse, minlength=k)
    hits = np.bincount(inverse, weights=flagged.astype(np.float64), minlength=k)
    total = np.bincount(inverse, weights=scores, minlength=k)
    low = np.full(k, np.inf)
    high = np.full(k, -np.inf)
    np.minimum.at(low, inverse, scores)
    np.maximum.at(high, inverse, scores)
    return list(
        zip(
            starts.tolist(),
            count.tolist(),
            hits.astype(np.int64).tolist(),
            low.tolist(),
            high.tolist(),
            total.tolist(),
            strict=True,
        )
    )


def decimate(
    times: np.ndarray, scores: np.ndarray, flagged: np.ndarray, limit: int = MAX_POINTS
) -> np.ndarray:
    """(epoch ms, score, flagged) points, at most ``limit``: the min and the max of each slice.

    Keeping both extremes of every slice keeps the spikes a screen must show.
    """
    order = np.argsort(times, kind="stable")
    t, s, f = times[order] * 1000.0, scores[order], flagged[order].astype(np.float64)
    if len(t) <= limit:
        return np.column_stack([t, s, f])
    edges = np.linspace(0, len(t), limit // 2 + 1).astype(np.int64)
    starts = edges[:-1][np.diff(edges) > 0]
    if np.isfinite(s).all():
        # per slice, the first position of its min and of its max (argmin/argmax), at once
        sizes = np.diff(np.append(starts, len(s)))
        slice_of = np.repeat(np.arange(len(starts)), sizes)
        firsts = []
        for extreme in (np.minimum, np.maximum):
            at = np.flatnonzero(s == extreme.reduceat(s, starts)[slice_of])
            firsts.append(at[np.unique(slice_of[at], return_index=True)[1]])
        idx = np.unique(np.concatenate(firsts))
    else:  # NaN: argmin/argmax semantics, slice by slice
        keep: list[int] = []
        for a, b in zip(starts, np.append(starts[1:], len(s)), strict=True):
            keep.extend(sorted({a + int(np.argmin(s[a:b])), a + int(np.argmax(s[a:b]))}))
        idx = np.asarray(keep, dtype=np.int64)
    return np.column_stack([t[idx], s[idx], f[idx]])
