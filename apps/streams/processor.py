"""The stream processor: one thread per active stream, a thin loop over the engine and the store.

``manage.py run_streams`` (the Procfile's ``streams`` line) runs :class:`Processor`. Every
:data:`REFRESH_SECONDS` it re-reads the active streams: a new or resumed stream gets a
thread, a paused or deleted one has its thread stopped after the batch in hand, a changed
one (its ``updated_at`` moved) is restarted with the new configuration. Each thread::

    poll (at most batch_size)  →  decode / validate / score (pynomaly.streaming)
        →  store, one transaction (apps.streams.store)  →  commit to the broker
        →  publish to the live page (≤ 2 per second)  →  alert rules on closed windows

Memory is bounded by the batch size. A source that allows it (``prefetch``: Redis Streams
and Kafka) is served by a thread of the stream's own that owns the consumer
(:class:`Prefetch`): it reads and decodes the next batch while this one is scored and
stored (the socket wait, SQLite and NumPy release the interpreter), makes the commits the
loop queues, in order, and measures the lag. At most three batches are in memory (the one
in hand, one waiting, one being read); what is read ahead is committed only once it is
stored, so a crash loses nothing (it is redelivered). MQTT and NATS are polled in the loop
(:class:`InLoop`): nothing is read before the previous batch is stored and committed.

Several processes share a stream through the broker's consumer group, each as ``host:pid``
(``make run STREAMS_PROCESSES=2``; a Kafka topic needs a partition per process): one
process is bound by one core (the interpreter), so two on two cores carry more.

A stream whose model cannot load or whose source cannot connect shows the error in its
state and is retried with a backoff doubling to :data:`MAX_BACKOFF`; no error of one
stream stops another or the process.
"""

from __future__ import annotations

import gc
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import close_old_connections, connections

from pynomaly.streaming import (
    MAX_POINTS,
    Batch,
    ModelScorer,
    OnlineScorer,
    Outcome,
    StreamEngine,
)
from pynomaly.streaming import decimate as decimate_points

from . import groups, store
from .models import Stream, StreamAnomaly
from .sources import open_consumer
from .sources.redis import consumer_name as default_consumer_name

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 3.0
POLL_TIMEOUT = 1.0
IDLE_STATE_SECONDS = 5.0  # an idle stream's state (lag, 0 records/s) is written this often
LAG_EVERY = 2.0
PUBLISH_EVERY = 0.5  # at most 2 messages a second to a stream's live page
MIN_BACKOFF, MAX_BACKOFF = 1.0, 60.0
RATE_SPAN = 5.0  # records/s is measured over this many seconds
ALERT_GRACE = 5.0  # a window is evaluated this long after its end (late records)


def window_seconds() -> int:
    """Stream alert rules look at closed windows of this many seconds of event time."""
    return int(getattr(settings, "STREAMS_ALERT_WINDOW_SECONDS", 60))


def build_engine(stream: Stream) -> StreamEngine:
    """The engine for ``stream``: its trained model (warm, from the shared cache) or a learner."""
    if stream.learner == Stream.Learner.MODEL:
        from apps.detectors.scoring import cache

        if stream.model is None:
            raise ValueError("this stream has no model")
        scorer: ModelScorer | OnlineScorer = ModelScorer(cache.get(stream.model), stream.threshold)
    else:
        scorer = OnlineScorer(
            stream.columns or [],
            stream.learner_params or {},
            stream.threshold,
            learner=stream.learner,
        )
    return StreamEngine(scorer, id_field=stream.id_field, time_field=stream.time_field)


class Rate:
    """Records per second over the last :data:`RATE_SPAN` seconds."""

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()

    def add(self, now: float, n: int) -> float:
        self.events.append((now, n))
        while self.events and now - self.events[0][0] > RATE_SPAN:
            self.events.popleft()
        if not self.events:
            return 0.0
        span = max(now - self.events[0][0], 1.0)
        return sum(k for _, k in self.events) / span


class Publisher:
    """Throttled, decimated nudges to the live page (Channels drops what it cannot carry)."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.points: deque[np.ndarray] = deque(maxlen=20)  # each ≤ MAX_POINTS: bounded
        self.new_anomalies = False
        self.last = 0.0

    def add(self, outcome: Outcome, stored: store.Stored) -> None:
        if len(outcome.points):
            self.points.append(outcome.points)
        self.new_anomalies |= stored.anomalies > 0

    def maybe_publish(self, now: float, *, force: bool = False) -> None:
        if not force and now - self.last < PUBLISH_EVERY:
            return
        if not self.points and not self.new_anomalies and not force:
            return
        self.last = now
        try:
            groups.publish(self.stream_id, self._message())
        except Exception:  # best effort: the page re-reads the stored state
            logger.warning("stream %s: live update not sent", self.stream_id, exc_info=True)
        self.points.clear()
        self.new_anomalies = False

    def _message(self) -> dict:
        points = np.concatenate(list(self.points)) if self.points else np.empty((0, 3))
        if len(points) > MAX_POINTS:
            points = decimate_points(
                points[:, 0] / 1000.0, points[:, 1], points[:, 2].astype(bool), MAX_POINTS
            )
        found = (
            Stream.objects.filter(pk=self.stream_id)
            .values("records_total", "anomalies_total", "dead_letters_total", "state", "status")
            .first()
        )
        row: dict[str, Any] = dict(found) if found else {}
        state = row.get("state") or {}
        anomalies = [
            {
                "id": a.pk,
                "event_id": a.event_id,
                "event_time": a.event_time.isoformat(),
                "score": a.score,
                "severity": a.severity,
                "reasons": a.reasons,
            }
            for a in StreamAnomaly.objects.filter(stream_id=self.stream_id).order_by(
                "-event_time", "-id"
            )[:10]
        ]
        threshold = state.get("threshold")
        return {
            "points": [[int(t), float(s), int(f)] for t, s, f in points.tolist()],
            "threshold": threshold,
            "stats": {
                "records_total": row.get("records_total", 0),
                "anomalies_total": row.get("anomalies_total", 0),
                "dead_letters_total": row.get("dead_letters_total", 0),
                "records_per_second": state.get("records_per_second", 0.0),
                "lag": state.get("lag"),
                "drift": state.get("drift", {}),
                "status": row.get("status"),
            },
            "anomalies": anomalies,
        }


class AlertWindows:
    """Evaluates the stream's alert rules on each window of event time once it is closed."""

    def __init__(self, stream_id: int, now: float) -> None:
        self.stream_id = stream_id
        self.size = window_seconds()
        # the window that closed last (again after a restart: evaluation is idempotent)
        self.next_start = (math.floor(now / self.size) - 1) * self.size

    def maybe_evaluate(self, now: float) -> None:
        from apps.alerts.services import alerts_for_stream_window

        while now >= self.next_start + self.size + ALERT_GRACE:
            start = datetime.fromtimestamp(self.next_start, tz=UTC)
            end = datetime.fromtimestamp(self.next_start + self.size, tz=UTC)
            stream = Stream.objects.filter(pk=self.stream_id).first()
            if stream is None:
                return
            if stream.alert_rules.filter(enabled=True).exists():
                figures = store.window_figures(self.stream_id, start, end)
                figures["drifted"] = _drifted_in(stream.state or {}, start, end)
                figures["window_seconds"] = self.size
                alerts_for_stream_window(stream=stream, window_start=start, figures=figures)
            self.next_start += self.size


def _drifted_in(state: dict, start: datetime, end: datetime) -> list[str]:
    out = []
    for column, when in (state.get("drift_at") or {}).items():
        try:
            at = datetime.fromisoformat(when)
        except (TypeError, ValueError):
            continue
        if start <= at < end:  # an alarm raised while the window was open
            out.append(column)
    return sorted(out)


class InLoop:
    """Polls, commits and measures the lag of ``consumer`` in the caller's thread and
    ``prepare``s what it read: the interface of :class:`Prefetch`, for sources that are not
    served by a thread of their own (MQTT and NATS, whose clients have their own threads)."""

    def __init__(self, consumer: Any, prepare: Callable[[list[Any]], Any]) -> None:
        self._consumer, self._prepare = consumer, prepare

    def poll(self, max_messages: int, timeout: float) -> tuple[list[Any], Any]:
        messages = self._consumer.poll(max_messages, timeout)
        return messages, (self._prepare(messages) if messages else None)

    def commit(self, messages: list[Any]) -> None:
        self._consumer.commit(messages)

    def lag(self) -> int | None:
        return self._consumer.lag()

    def close(self) -> None:
        pass


class Prefetch:
    """A thread of the stream's own that owns ``consumer``: it polls and ``prepare``s
    (decodes) at most one batch ahead of the caller, commits what the caller asks it to, in
    order, and measures the lag every ``lag_every`` seconds. Every call on the consumer is
    made from this one thread: confluent-kafka's consumer lets one call in at a time, and a
    commit made from a second thread while this one polled waited for good (measured: the
    poller took the consumer back after each empty poll before the commit got in).

    ``poll`` hands out ``(messages, prepared)`` read by the thread (waiting at most
    ``timeout`` for them; ``([], None)`` if none came). ``commit`` queues the commit and
    returns: the caller scores the next batch meanwhile; the thread makes it before its next
    poll. An error of the source's poll, commit or lag, or of ``prepare``, ends the thread and
    is raised by the caller's next ``poll`` (a commit it could not make is redelivered and
    stored again as nothing new). ``close`` stops the thread after its poll in progress
    (one slice, at most ``slice_seconds``) and the commits still queued: what is stored is
    acknowledged before the consumer closes.
    """

    def __init__(
        self,
        consumer: Any,
        batch_size: int,
        timeout: float,
        name: str,
        prepare: Callable[[list[Any]], Any] = lambda messages: None,
        *,
        lag_every: float = LAG_EVERY,
        slice_seconds: float = 0.1,
    ) -> None:
        self._consumer, self._prepare = consumer, prepare
        self._batch_size = batch_size
        # a queued commit waits at most one poll of this length when the source is idle
        self._slice = min(timeout, slice_seconds)
        self._lag_every = lag_every
        self._lag: int | None = None
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._commits: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-reader", daemon=True)
        self._thread.start()

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            self._error = exc
        finally:
            if self._error is None:
                try:
                    self._flush_commits()
                except BaseException as exc:  # noqa: BLE001
                    self._error = exc

    def _serve(self) -> None:
        item: Any = None  # read, not yet handed over
        next_lag = 0.0
        while not self._stopping.is_set():
            self._flush_commits()
            if time.monotonic() >= next_lag:
                self._lag = self._consumer.lag()
                next_lag = time.monotonic() + self._lag_every
            if item is None:
                messages = self._consumer.poll(self._batch_size, self._slice)
                if messages:
                    item = (messages, self._prepare(messages))
            if item is not None:
                try:
                    self._ready.put(item, timeout=self._slice)
                    item = None
                except queue.Full:  # the caller is still busy: serve its commits meanwhile
                    continue

    def _flush_commits(self) -> None:
        while True:
            try:
                messages = self._commits.get_nowait()
            except queue.Empty:
                return
            self._consumer.commit(messages)

    # -- the caller's side ----------------------------------------------------------
    def poll(self, max_messages: int, timeout: float) -> tuple[list[Any], Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._ready.get(
                    timeout=min(self._slice, max(deadline - time.monotonic(), 0))
                )
            except queue.Empty:
                self._raise_if_failed()
                if time.monotonic() >= deadline:
                    return [], None

    def commit(self, messages: list[Any]) -> None:
        self._commits.put(messages)

    def lag(self) -> int | None:
        """The lag the thread measured last (None before its first measure)."""
        return self._lag

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._slice + 60.0)
        if self._error is not None:
            logger.warning("%s: the reader stopped on %r", self._thread.name, self._error)

    def _raise_if_failed(self) -> None:
        if self._error is not None and not self._thread.is_alive():
            raise self._error


class StreamWorker(threading.Thread):
    """Serves one stream until stopped (see the module note)."""

    def __init__(self, stream_id: int, version: object, name: str) -> None:
        super().__init__(name=f"stream-{stream_id}", daemon=True)
        self.stream_id = stream_id
        self.version = version
        self.consumer_name = name
        self.stopping = threading.Event()
        self.batches = 0
        # seconds spent per step (poll, process, store, commit), for benches and profiling
        self.timings = dict.fromkeys(("poll", "process", "store", "commit"), 0.0)

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        backoff = MIN_BACKOFF
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    self._serve()
                    return
                except store.StreamGone:
                    return
                except Exception as exc:
                    logger.exception(
                        "stream %s failed; retrying in %.0f s", self.stream_id, backoff
                    )
                    message = f"{type(exc).__name__}: {exc}"[:500]
                    try:
                        store.record_state(
                            stream_id=self.stream_id,
                            processor=self.consumer_name,
                            now=time.time(),
                            error=message,
                        )
                    except Exception:
                        logger.exception("stream %s: its error could not be stored", self.stream_id)
                    close_old_connections()
                    if time.monotonic() - started > 10 * MAX_BACKOFF:
                        backoff = MIN_BACKOFF  # it ran fine for a long while: start over
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            connections.close_all()

    def _serve(self) -> None:
        stream = Stream.objects.select_related("model").filter(pk=self.stream_id).first()
        if stream is None:
            raise store.StreamGone(self.stream_id)
        engine = build_engine(stream)
        consumer = open_consumer(stream, consumer_name=self.consumer_name)
        # Django, PyOD (torch) and the model leave ~400k long-lived objects on the heap; every
        # full collection walks them all, and a batch allocates enough to trigger several:
        # measured, they took over half the poll's time. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()
        rate, publisher = Rate(), Publisher(self.stream_id)
        windows = AlertWindows(self.stream_id, time.time())
        batch_size = max(1, int(stream.batch_size or 1))

        def decode(messages: list[Any]) -> Batch:
            payloads, coordinates, received_at, _ = zip(*messages, strict=True)
            return engine.decode(payloads, coordinates, received_at)

        reader: Prefetch | InLoop = InLoop(consumer, decode)
        if getattr(consumer, "prefetch", False):
            reader = Prefetch(consumer, batch_size, POLL_TIMEOUT, self.name, decode)
        lag: int | None = None
        next_lag = next_idle_state = 0.0
        try:
            while not self.stopping.is_set():
                clock = time.perf_counter()
                messages, batch = reader.poll(batch_size, POLL_TIMEOUT)
                now = time.time()
                self.timings["poll"] += time.perf_counter() - clock
                if time.monotonic() >= next_lag:  # what waits behind the messages in hand
                    lag = reader.lag()
                    next_lag = time.monotonic() + LAG_EVERY
                if messages:
                    clock = time.perf_counter()
                    outcome = engine.process_batch(batch, now=now)
                    self.timings["process"] += time.perf_counter() - clock
                    clock = time.perf_counter()
                    stored = store.store_outcome(
                        stream_id=self.stream_id,
                        outcome=outcome,
                        processor=self.consumer_name,
                        records_per_second=rate.add(now, len(messages)),
                        lag=lag,
                        now=now,
                    )
                    self.timings["store"] += time.perf_counter() - clock
                    clock = time.perf_counter()
                    reader.commit(messages)  # only now: what is stored is acknowledged
                    self.timings["commit"] += time.perf_counter() - clock
                    self.batches += 1
                    publisher.add(outcome, stored)
                    next_idle_state = time.monotonic() + IDLE_STATE_SECONDS
                elif time.monotonic() >= next_idle_state:
                    store.record_state(
                        stream_id=self.stream_id,
                        processor=self.consumer_name,
                        now=now,
                        records_per_second=rate.add(now, 0),
                        lag=lag,
                    )
                    next_idle_state = time.monotonic() + IDLE_STATE_SECONDS
                publisher.maybe_publish(time.monotonic())
                windows.maybe_evaluate(now)
        finally:
            try:
                reader.close()
            finally:
                consumer.close()


class Processor:
    """The threads of every active stream of this process (module note)."""

    def __init__(
        self, *, name: str | None = None, refresh: float = REFRESH_SECONDS, streams=None
    ) -> None:
        self.name = name or default_consumer_name()
        self.refresh = refresh
        self.only = set(streams) if streams else None
        self.workers: dict[int, StreamWorker] = {}
        self.stopping = threading.Event()

    def reconcile(self) -> None:
        active = Stream.objects.filter(status=Stream.Status.ACTIVE)
        if self.only is not None:
            active = active.filter(pk__in=self.only)
        wanted = dict(active.values_list("pk", "updated_at"))
        for pk, worker in list(self.workers.items()):
            if pk not in wanted or worker.version != wanted[pk] or not worker.is_alive():
                worker.stop()
                if not worker.is_alive() or pk not in wanted or worker.version != wanted[pk]:
                    worker.join(timeout=30)
                del self.workers[pk]
        for pk, version in wanted.items():
            if pk not in self.workers:
                worker = StreamWorker(pk, version, self.name)
                self.workers[pk] = worker
                worker.start()
                logger.info("stream %s: serving as %s", pk, self.name)

    def run(self) -> None:
        logger.info("stream processor %s started", self.name)
        try:
            while not self.stopping.is_set():
                try:
                    self.reconcile()
                except Exception:  # the database is away: keep the threads, try again
                    logger.exception("reading the active streams failed")
                    close_old_connections()
                self.stopping.wait(self.refresh)
        finally:
            for worker in self.workers.values():
                worker.stop()
            for worker in self.workers.values():
                worker.join(timeout=30)
            connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
