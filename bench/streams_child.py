"""The measuring side of ``bench.streams``: runs with Django set up on the bench's database.

It creates the workspace (a user, a tenant, an IForest registered as a TrainedModel), one
stream per measurement, and starts the stream processor (``manage.py run_streams``) as its own
process for each — the bench reads the processor's figures only from the database, as the
stream page does. Produce goes through each adapter's own ``produce(config, payloads)``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench.stream_load import (
    COLUMNS,
    Records,
    RssSampler,
    Tansu,
    chunks,
    load1,
    paced,
    training_matrix,
)

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("BENCH_STREAMS_WORKDIR", "/tmp"))
BATCH_SIZE = 5000
PRODUCE_CHUNK = 10_000
REDIS_PACK = 100  # records per entry for "redis-packed"
CEILING_RECORDS = 200_000  # the engine's rate is a rate: 200k decoded dicts are plenty
FIT_ROWS, SHARE, SEED = 20_000, 0.02, 42


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the workspace


class Workspace:
    """A user, a tenant and an IForest registered the way a finished run registers one."""

    def __init__(self) -> None:
        import numpy as np
        import pandas as pd
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from apps.datasets.models import Dataset, DatasetVersion
        from apps.detectors.models import TrainedModel
        from apps.detectors.services import detector_config_create
        from apps.runs.models import Run
        from apps.tenants.services import tenant_create
        from pynomaly import persist
        from pynomaly.data import write_parquet
        from pynomaly.detect import PipelineConfig, Threshold, fit
        from pynomaly.prepare import PrepareOptions

        self.user = get_user_model().objects.create_user(
            username="bench-streams", email="bench-streams@example.com"
        )
        self.tenant = tenant_create(name="Bench streams", owner=self.user)
        X, _ = training_matrix(FIT_ROWS, SHARE, SEED)
        frame = pd.DataFrame(X, columns=COLUMNS)
        pipeline = PipelineConfig(
            detectors=(("iforest", {}),), prepare=PrepareOptions(scaling="none"),
            threshold=Threshold("contamination", SHARE), seed=SEED,
        )  # fmt: skip
        media = Path(settings.MEDIA_ROOT)
        parquet = "datasets/parquet/bench-streams.parquet"
        (media / parquet).parent.mkdir(parents=True, exist_ok=True)
        write_parquet(frame, media / parquet)
        dataset = Dataset.objects.create(
            tenant=self.tenant, name="bench training rows", status=Dataset.Status.READY
        )
        version = DatasetVersion.objects.create(
            tenant=self.tenant, dataset=dataset, number=1, sha256=uuid.uuid4().hex,
            original=parquet, original_name="training.parquet", format="parquet",
            size=(media / parquet).stat().st_size, parquet=parquet, rows=len(frame),
            columns=frame.shape[1],
            schema=[{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()],
        )  # fmt: skip
        config = detector_config_create(
            tenant=self.tenant, user=self.user, name="IForest (bench)",
            pipeline=pipeline.to_dict(),
        )  # fmt: skip
        run = Run.objects.create(
            tenant=self.tenant, dataset_version=version, detector_version=config.current,
            created_by=self.user, status="succeeded",
        )  # fmt: skip
        fitted = fit(frame, pipeline)
        artifact = "models/bench/iforest.skops"
        (media / artifact).parent.mkdir(parents=True, exist_ok=True)
        digest = persist.save(fitted, media / artifact)
        self.model = TrainedModel.objects.create(
            tenant=self.tenant, run=run, detector_version=config.current, artifact=artifact,
            sha256=digest, feature_names=list(fitted.feature_names),
            input_columns=list(fitted.preparer.input_columns), threshold=float(fitted.threshold_),
        )  # fmt: skip
        self.np = np

    def stream(self, kind: str, config: dict, **fields):
        from apps.streams.models import Stream

        fields.setdefault("model", self.model)
        return Stream.objects.create(
            tenant=self.tenant, name=f"bench {kind} {uuid.uuid4().hex[:6]}", kind=kind,
            config=config, id_field="id", time_field="ts", batch_size=BATCH_SIZE,
            created_by=self.user, **fields,
        )  # fmt: skip


# ------------------------------------------------------------------ sources


class Source:
    """One broker kind: where a bench stream reads (its config) and how the bench produces.

    ``send`` goes through the adapter's own ``produce`` where one call per chunk is cheap
    (Redis: a pipeline of XADDs), and through one long-lived client configured by the
    adapter (Kafka: ``producer_client_config``) where a client per call would cost more
    than the records (a paced 10 ms tick must not pay a connection and a metadata fetch).
    ``retains``: records produced while no processor runs wait for it (a backlog can be
    drained); MQTT delivers only to a connected subscriber, so it is measured live.
    """

    retains = True

    def __init__(self, kind: str, config: dict, module) -> None:
        self.kind, self.config, self.module = kind, config, module

    def send(self, payloads: list[bytes]) -> None:
        for chunk in chunks(payloads, PRODUCE_CHUNK):
            self.module.produce(self.config, chunk)

    def backlog(self, payloads: list[bytes]) -> None:
        """Produce ``payloads`` for a processor started afterwards to drain."""
        self.send(payloads)

    def drained(self) -> None:
        """Every record so far is stored and acknowledged: drop what the broker still keeps."""

    def close(self) -> None:
        pass


class RedisSource(Source):
    """``pack`` > 1: that many records per entry (the adapter's ``produce(pack=n)``)."""

    def __init__(self, kind: str, config: dict, module, pack: int = 1) -> None:
        super().__init__(kind, config, module)
        self.pack = pack

    def send(self, payloads: list[bytes]) -> None:
        for chunk in chunks(payloads, PRODUCE_CHUNK):
            self.module.produce(self.config, chunk, pack=self.pack)

    def backlog(self, payloads: list[bytes]) -> None:
        # no trimming while the backlog waits: the adapter's default (about 1M entries)
        # would cut a backlog larger than that; drained() empties the key instead.
        for chunk in chunks(payloads, PRODUCE_CHUNK):
            self.module.produce(self.config, chunk, maxlen=0, pack=self.pack)

    def drained(self) -> None:
        import redis

        client = redis.Redis.from_url(self.config["url"])
        try:
            client.xtrim(self.config["key"], maxlen=0)
        finally:
            client.close()


class KafkaSource(Source):
    def __init__(self, kind: str, config: dict, module) -> None:
        from confluent_kafka import Producer

        super().__init__(kind, config, module)
        settings = module.check_config(config, default_group="-")
        self.producer = Producer(module.producer_client_config(settings, ""))
        self.topic = settings.topic

    def send(self, payloads: list[bytes]) -> None:
        produce, topic = self.producer.produce, self.topic
        for payload in payloads:
            while True:
                try:
                    produce(topic, payload)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self.producer.poll(0.05)
        if self.producer.flush(60.0):
            raise RuntimeError("Kafka: records still queued after 60 s")

    def close(self) -> None:
        self.producer.flush(10.0)


class MqttSource(Source):
    retains = False

    def send(self, payloads: list[bytes]) -> None:
        for chunk in chunks(payloads, PRODUCE_CHUNK):
            self.module.produce(self.config, "", chunk)


class NatsSource(Source):
    def send(self, payloads: list[bytes]) -> None:
        for chunk in chunks(payloads, PRODUCE_CHUNK):
            self.module.produce(self.config, "", chunk, create_stream=True)

    def close(self) -> None:
        self.module.delete_stream(self.config)  # the machine's shared server: leave nothing


def _adapter(kind: str):
    """The adapter module of ``kind``, or None when this checkout has none."""
    try:
        return importlib.import_module(f"apps.streams.sources.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name == f"apps.streams.sources.{kind}":
            return None
        raise


class Sources:
    """Fresh topics/keys/subjects per measurement; tansu started once, on first need."""

    def __init__(self, stack: ExitStack, partitions: int = 1) -> None:
        self.stack = stack
        self.partitions = partitions  # of each Kafka topic: one per processor sharing it
        self.tansu: Tansu | None = None

    def new(self, kind: str) -> Source | None:
        """A fresh source of ``kind``; None when this checkout has no adapter for it."""
        module = _adapter(kind.partition("-")[0])
        if module is None:
            return None
        tag = uuid.uuid4().hex[:8]
        if kind.startswith("redis"):
            config = {"url": os.environ["REDIS_URL"], "key": f"bench:streams:{tag}",
                      "group": "bench"}  # fmt: skip
            pack = REDIS_PACK if kind == "redis-packed" else 1
            source: Source = RedisSource("redis", config, module, pack)
        elif kind == "kafka":
            if self.tansu is None:
                self.tansu = self.stack.enter_context(Tansu(WORK / "tansu.log"))
            topic = f"bench-streams-{tag}"
            self.tansu.create_topic(topic, partitions=self.partitions)
            config = {"bootstrap_servers": self.tansu.bootstrap, "topic": topic,
                      "group": f"bench-{tag}"}  # fmt: skip
            source = KafkaSource(kind, config, module)
        elif kind == "mqtt":
            config = {"host": "127.0.0.1", "port": 1883, "topic": f"bench/streams/{tag}", "qos": 1,
                      "group": f"bench-{tag}"}  # fmt: skip
            source = MqttSource(kind, config, module)
        else:
            config = {"servers": "nats://127.0.0.1:4222", "stream": f"BENCH_{tag.upper()}",
                      "subject": f"bench.streams.{tag}", "durable": f"bench-{tag}"}  # fmt: skip
            source = NatsSource(kind, config, module)
        self.stack.callback(source.close)
        return source


# ------------------------------------------------------------------ the processor


def _die_with_parent() -> None:
    """In the processor's child: SIGTERM when the bench dies (an interrupted bench leaves no
    processor retrying against a Redis that is gone). Linux's PR_SET_PDEATHSIG."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Processor:
    """``manage.py run_streams`` for one stream — ``processes`` of them sharing it through the
    broker's consumer group (``--streams-processes``) — their logs in the work folder, the RSS
    of each sampled."""

    def __init__(self, stream, *, rss_every: float = 2.0, processes: int = 1) -> None:
        self.stream = stream
        self.processes = max(1, processes)
        self.logs = [WORK / f"processor-{stream.pk}-{i}.log" for i in range(self.processes)]
        self.rss_every = rss_every
        self.procs: list[subprocess.Popen] = []
        self.samplers: list[RssSampler] = []

    def __enter__(self) -> Processor:
        for log in self.logs:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_streams", "--stream", str(self.stream.pk)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                preexec_fn=_die_with_parent,
            )  # fmt: skip
            self.procs.append(proc)
            self.samplers.append(RssSampler(proc.pid, self.rss_every).start())
        return self

    def __exit__(self, *exc: object) -> None:
        for sampler in self.samplers:
            sampler.stop()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def check(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"the processor exited ({proc.returncode}): {self.tail(log)}")

    def tail(self, log: Path | None = None) -> str:
        log = log or self.logs[0]
        return log.read_text(errors="replace")[-1500:] if log.exists() else ""

    def errors_logged(self) -> int:
        texts = [log.read_text(errors="replace") for log in self.logs if log.exists()]
        return sum(1 for text in texts for line in text.splitlines()
                   if "ERROR" in line or "Traceback" in line)  # fmt: skip

    def rss_max(self) -> float:
        """The largest RSS any one processor reached (the target is per processor)."""
        return max((mb for s in self.samplers for _, mb in s.samples), default=0.0)

    def serving(self) -> int:
        """How many processors have stored state for the stream (each writes its own view)."""
        from apps.streams.models import Stream

        state = Stream.objects.values_list("state", flat=True).get(pk=self.stream.pk) or {}
        return len(state.get("processors") or {})


def totals(stream_id: int) -> tuple[int, int, int]:
    from apps.streams.models import Stream

    return Stream.objects.values_list("records_total", "anomalies_total", "dead_letters_total").get(
        pk=stream_id
    )


def wait_stored(proc: Processor, target: int, timeout: float, interval: float = 0.01) -> float:
    """Poll ``records_total`` until it reaches ``target``; the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        stored = totals(proc.stream.pk)[0]
        now = time.monotonic()
        if stored >= target:
            return now
        if stored != last:
            last, last_change = stored, now
        proc.check()
        if now > deadline:
            raise TimeoutError(
                f"{stored:,} of {target:,} stored after {timeout:.0f} s "
                f"(no progress for {now - last_change:.0f} s): {proc.tail()}"
            )
        time.sleep(interval)


def warm(
    proc: Processor, source: Source, records: Records, n: int = 2 * BATCH_SIZE, above: int = 0
) -> int:
    """Produce ``n`` records and wait until they are stored: connected, model loaded, warm
    (a consumer group's join is paid here, untimed). The new total."""
    if not source.retains:
        total = _warm_live(proc, source, records, above)
    else:
        payloads, _ = records.batch(n)
        source.send(payloads)
        wait_stored(proc, above + n, timeout=300)
        total = above + n
    wait_serving(proc)
    return total


def wait_serving(proc: Processor, timeout: float = 300) -> None:
    """Until every processor serves the stream (its view is in the stream's state)."""
    deadline = time.monotonic() + timeout
    while proc.serving() < proc.processes:
        proc.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.serving()} of {proc.processes} processors serving")
        time.sleep(0.01)


def _warm_live(proc: Processor, source: Source, records: Records, above: int) -> int:
    """A broker that keeps nothing before the subscription exists (MQTT): send small batches
    until some are stored (subscribed), let the rest settle; the total then."""
    deadline = time.monotonic() + 300
    while totals(proc.stream.pk)[0] <= above:
        proc.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing stored after 300 s of warm-up: {proc.tail()}")
        source.send(records.batch(500)[0])
        time.sleep(1.0)
    settled, last = time.monotonic() + 3.0, -1
    while time.monotonic() < settled or totals(proc.stream.pk)[0] != last:
        last = totals(proc.stream.pk)[0]
        time.sleep(1.0)
    return last


# ------------------------------------------------------------------ measurements


def ceiling(scorer, payloads: list[bytes], batch: int) -> float:
    """The engine scoring the same records (decoded JSON dicts) from memory: records/s."""
    import orjson

    dicts = [orjson.loads(p) for p in payloads[:CEILING_RECORDS]]
    start = time.perf_counter()
    for i in range(0, len(dicts), batch):
        scorer.score(dicts[i : i + batch])
    return len(dicts) / (time.perf_counter() - start)


def wait_first(proc: Processor, above: int, timeout: float = 300) -> tuple[float, int]:
    """The first stored batch past ``above`` once every processor serves the stream (connected,
    model loaded): when it was seen and the total then."""
    wait_stored(proc, above + 1, timeout)
    wait_serving(proc, timeout)
    return time.monotonic(), totals(proc.stream.pk)[0]


def throughput(ws: Workspace, kind: str, opts: dict, sources: Sources) -> dict | None:
    """Per repeat: the engine's ceiling on N fresh records, then the processor on them.

    Each repeat reads a source and a stream of its own (a new Redis key, Kafka topic and
    group …): with several processors, tansu (the test broker) often handed no partitions
    to a group's second generation of members, so a group is never joined twice.

    A broker that retains: the N records are produced first (untimed), then the processors
    are started and timed from the first stored batch after all of them serve (connected,
    model loaded) to the last: (N − what was stored by then) / that time. MQTT: warm
    processors, N produced at full speed, timed from the first produce call to the last
    stored."""
    from apps.detectors.scoring import cache

    n, repeat = opts["records"], opts["repeat"]
    scorer = cache.get(ws.model)
    records = Records(share=SHARE, seed=SEED + 1, prefix=f"{kind}-")  # ids unique per source
    out: dict = {"records": n, "batch_size": BATCH_SIZE, "repeats": [], "dead_letters": 0,
                 "processes": opts["processes"], "rss_max_mb": 0.0, "errors_logged": 0}  # fmt: skip
    for i in range(repeat):
        source = sources.new(kind)
        if source is None:
            return None
        stream = ws.stream(source.kind, source.config)
        mode = out["mode"] = "backlog" if source.retains else "live"
        payloads, _ = records.batch(n)
        _say(f"{kind} {i + 1}/{repeat}: engine, then the processor on {n:,} records ({mode}) ...")
        engine = ceiling(scorer, payloads, BATCH_SIZE)
        engine_load = load1()
        produced = 0.0
        if source.retains:
            t = time.monotonic()
            source.backlog(payloads)
            produced = time.monotonic() - t
        with Processor(stream, processes=opts["processes"]) as proc:
            if source.retains:
                start, first = wait_first(proc, 0)
                timed = n - first
                base = 0
            else:
                base = warm(proc, source, records)
                start, timed = time.monotonic(), n
                source.send(payloads)
                produced = time.monotonic() - start
            done = wait_stored(proc, base + n, timeout=max(300.0, n / 2000))
            out["rss_max_mb"] = max(out["rss_max_mb"], proc.rss_max())
            out["errors_logged"] += proc.errors_logged()
        source.drained()
        out["dead_letters"] += totals(stream.pk)[2]
        out["repeats"].append({
            # nan when every record came in the first batch: nothing left to time (more records)
            "engine": engine, "engine_load": engine_load,
            "rate": timed / (done - start) if timed > 0 and done > start else float("nan"),
            "load": load1(), "produce_s": produced, "seconds": done - start,
        })  # fmt: skip
        del payloads
    return out


def latency(
    ws: Workspace, kind: str, opts: dict, sources: Sources, rate: float = 5000
) -> dict | None:
    from apps.streams.models import StreamAnomaly

    source = sources.new(kind)
    if source is None:
        return None
    stream = ws.stream(kind, source.config)
    records = Records(share=SHARE, seed=SEED + 2, prefix=f"lat-{kind}-")
    with Processor(stream, processes=opts["processes"]) as proc:
        _say(f"{kind}: latency at {rate:,.0f} records/s for {opts['latency_seconds']:g} s ...")
        base = warm(proc, source, records)
        first_timed = records.next_id
        sent = paced(source.send, records, rate, opts["latency_seconds"])
        wait_stored(proc, base + sent.sent, timeout=300)
        load = load1()
    prefix = records.prefix
    ms = []
    for record, created in StreamAnomaly.objects.filter(stream=stream).values_list(
        "record", "created_at"
    ):
        if int(str(record["id"]).removeprefix(prefix)) >= first_timed:
            ms.append(1000 * (created.timestamp() - float(record["ts"])))
    if not ms:
        return {"error": "no anomaly stored in the paced window"}
    return {"rate": sent.sent / sent.seconds, "records": sent.sent, "latencies_ms": ms,
            "load": load, "behind_max_s": sent.behind_max}  # fmt: skip


def online(ws: Workspace, opts: dict, sources: Sources, learner: str) -> dict | None:
    import orjson
    from sklearn.metrics import roc_auc_score

    from apps.streams.models import Stream, StreamAnomaly

    source = sources.new("redis")
    if source is None:
        return None
    n = opts["online_records"]
    stream = ws.stream(
        "redis", source.config, model=None, learner=learner,
        columns=COLUMNS,
    )  # fmt: skip
    records = Records(share=SHARE, seed=SEED + 3, prefix="hst-")
    warm_payloads, warm_labels = records.batch(BATCH_SIZE)
    payloads, labels = records.batch(n)
    with Processor(stream) as proc:
        _say(f"online learner {learner}: {n:,} labelled records ...")
        source.send(warm_payloads)
        wait_stored(proc, BATCH_SIZE, timeout=300)
        start = time.monotonic()
        source.send(payloads)
        done = wait_stored(proc, BATCH_SIZE + n, timeout=max(600.0, n / 200))
        load = load1()
    flagged = {
        r["id"]
        for r in StreamAnomaly.objects.filter(stream=stream).values_list("record", flat=True)
    }
    timed = [orjson.loads(p) for p in payloads]
    hits = sum(1 for r in timed if r["id"] in flagged and r["label"] == 1)
    flagged_timed = sum(1 for r in timed if r["id"] in flagged)
    scores = engine_online_scores(stream, [orjson.loads(p) for p in warm_payloads] + timed)
    return {
        "learner": str(Stream.Learner(learner).label).removeprefix("Online: ").split(" (")[0],
        "records": n, "rate": n / (done - start), "load": load,
        "auc": float(roc_auc_score(list(warm_labels) + list(labels), scores)),
        "precision": hits / flagged_timed if flagged_timed else 0.0,
        "recall": hits / max(1, int(labels.sum())),
    }  # fmt: skip


def engine_online_scores(stream, dicts: list[dict]) -> list[float]:
    """Every record's score from the engine's online scorer (the processor's, with the
    stream's learner and parameters), in stream order, learning as it scores."""
    import numpy as np

    from pynomaly.streaming import Batch, OnlineScorer

    scorer = OnlineScorer(
        list(stream.columns), dict(stream.learner_params or {}), learner=stream.learner
    )
    scores: list[float] = []
    for i in range(0, len(dicts), BATCH_SIZE):
        chunk = dicts[i : i + BATCH_SIZE]
        batch = Batch(
            records=chunk,
            event_ids=[str(i + j) for j in range(len(chunk))],
            event_times=np.zeros(len(chunk)),
            dead=[],
        )
        scores.extend(scorer.score(batch).scores.tolist())
    return scores


def soak(ws: Workspace, opts: dict, sources: Sources) -> dict | None:
    kind = opts["soak_source"]
    source = sources.new(kind)
    if source is None:
        return None
    seconds, rate = opts["soak_seconds"], opts["soak_rate"]
    stream = ws.stream("redis", source.config)
    records = Records(share=SHARE, seed=SEED + 4, prefix="soak-")
    error_kinds: list[str] = []
    with Processor(stream, rss_every=5.0, processes=opts["processes"]) as proc:
        _say(f"soak: {rate:,.0f} records/s for {seconds:.0f} s ...")
        base = warm(proc, source, records)
        result: dict = {}
        stop = threading.Event()

        def produce() -> None:
            try:
                result["paced"] = paced(source.send, records, rate, seconds, tick=0.1, stop=stop)
            except Exception as exc:  # reported below, never swallowed
                result["error"] = repr(exc)

        producer = threading.Thread(target=produce, name="soak-producer", daemon=True)
        start = time.monotonic()
        producer.start()
        while producer.is_alive():
            producer.join(timeout=30)
            stored = totals(stream.pk)[0] - base
            rss = max((s.samples[-1][1] for s in proc.samplers if s.samples), default=0.0)
            _say(f"soak {time.monotonic() - start:.0f} s: {stored:,} stored, RSS {rss:.0f} MB")
            exited = [p.returncode for p in proc.procs if p.poll() is not None]
            if exited:
                stop.set()
                error_kinds.append(f"processor exited {exited[0]}")
                break
        if "error" in result:
            return {"error": f"producer: {result['error']}"}
        sent = result["paced"].sent
        try:
            wait_stored(proc, base + sent, timeout=600)
        except (TimeoutError, RuntimeError) as exc:
            error_kinds.append(str(exc)[:200])
        elapsed = time.monotonic() - start
        # per processor (the limit is per processor): the one whose last minute is highest
        rss, first, last = [], [], []
        for sampler in proc.samplers:
            samples = sampler.samples
            mine = [mb for _, mb in samples]
            early = [mb for t, mb in samples if start <= t <= start + 60] or mine[:1]
            late = [mb for t, mb in samples if t >= samples[-1][0] - 60] or mine[-1:]
            if not last or statistics.median(late) > statistics.median(last):
                rss, first, last = mine, early, late
        stored_total, _, dead = totals(stream.pk)
        logged = proc.errors_logged()
    if dead:
        error_kinds.append(f"{dead} dead letters")
    if logged:
        error_kinds.append(f"{logged} error lines in the processor's log")
    return {
        "source": kind, "seconds": elapsed, "sent": sent, "stored": stored_total - base, "rss_mb": rss,
        "rss_first_minute_mb": statistics.median(first), "rss_last_minute_mb": statistics.median(last),
        "errors": len(error_kinds), "error_kinds": error_kinds, "load": load1(),
    }  # fmt: skip


STAGES = [  # label, (file suffix, function) …: what the processor's loop calls per batch
    ("poll the broker (read, parse the reply)", ("sources/redis.py", "poll")),
    ("decode + validate (orjson, types)", ("pynomaly/streaming.py", "decode")),
    ("score (RecordScorer matrix + IForest)", ("pynomaly/streaming.py", "score")),
    ("  of which the forest's decision function", ("pynomaly/fastscore.py", "decision_function")),
    ("anomalies (reasons, records)", ("pynomaly/streaming.py", "_anomalies")),
    ("buckets, points, moments, drift", ("pynomaly/streaming.py", "buckets"),
     ("pynomaly/streaming.py", "decimate"), ("pynomaly/streaming.py", "update")),
    ("store (one transaction)", ("apps/streams/store.py", "store_outcome")),
    ("commit to the broker (XACK)", ("sources/redis.py", "commit")),
    ("lag", ("sources/redis.py", "lag")),
    ("live page publish", ("apps/streams/processor.py", "maybe_publish")),
]  # fmt: skip


def profile(ws: Workspace, opts: dict, sources: Sources) -> str | None:
    """The processor's loop in this process under cProfile, draining a Redis backlog.

    cProfile sees only the thread it runs in, and the processor serves each stream from a
    thread of its own: so the bench runs that thread's body (``StreamWorker.run``) here in
    the main thread, on the same stream and code, and stops it when every record is stored.
    Prints the time of each stage of the loop and the functions with the most own time."""
    import cProfile
    import io
    import pstats

    from apps.streams.processor import StreamWorker

    source = sources.new("redis")
    if source is None:
        return None
    stream = ws.stream("redis", source.config)
    records = Records(share=SHARE, seed=SEED + 5, prefix="prof-")
    n = min(opts["records"], 200_000)
    payloads, _ = records.batch(n)
    source.backlog(payloads)
    worker = StreamWorker(stream.pk, stream.updated_at, "bench-profile")

    def stop_when_stored() -> None:
        from django.db import connection

        try:
            while totals(stream.pk)[0] < n and not worker.stopping.is_set():
                time.sleep(0.05)
        finally:
            worker.stop()
            connection.close()

    threading.Thread(target=stop_when_stored, daemon=True).start()
    prof = cProfile.Profile()
    start = time.monotonic()
    prof.enable()
    worker.run()
    prof.disable()
    wall = time.monotonic() - start
    stats = pstats.Stats(prof)
    cum: dict[tuple[str, str], float] = {}
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for _, *targets in STAGES:
            for suffix, name in targets:
                if filename.endswith(suffix) and func == name:
                    cum[(suffix, name)] = cum.get((suffix, name), 0.0) + ct
    lines = [f"{n:,} records in {wall:.1f} s under the profiler ({n / wall:,.0f} records/s, "
             f"{1000 * wall / (n / BATCH_SIZE):.0f} ms a batch of {BATCH_SIZE:,}); load {load1():.2f}"]  # fmt: skip
    for text, *targets in STAGES:
        seconds = sum(cum.get(t, 0.0) for t in targets)
        lines.append(f"  {text:<48} {seconds:7.2f} s {100 * seconds / wall:5.1f}%")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(20)
    return "\n".join(lines) + "\n" + out.getvalue()


# ------------------------------------------------------------------ the run


def run(opts: dict) -> int:
    import django

    django.setup()
    from bench.streams import report

    results: dict = {"throughput": {}, "latency": {}, "notes": []}
    _say("fitting the IForest and registering it as a trained model ...")
    ws = Workspace()
    parts = opts["parts"]
    with ExitStack() as stack:
        sources = Sources(stack, partitions=opts["processes"])
        if "profile" in parts and "redis" in opts["brokers"]:
            results["profile"] = profile(ws, opts, sources)
        for kind in opts["brokers"] if "throughput" in parts else []:
            try:
                t = throughput(ws, kind, opts, sources)
            except (RuntimeError, TimeoutError) as exc:
                t = {"error": str(exc)}
            if t is None:
                results["notes"].append(f"{kind}: no adapter in this checkout; not measured")
                continue
            results["throughput"][kind] = t
        for kind in [k for k in ("redis", "kafka") if k in opts["brokers"] and "latency" in parts]:
            try:
                lt = latency(ws, kind, opts, sources)
            except (RuntimeError, TimeoutError) as exc:
                lt = {"error": str(exc)}
            if lt is not None:
                results["latency"][kind] = lt
        if "redis" in opts["brokers"] and "online" in parts:
            from apps.streams.models import Stream

            results["online"] = {}
            for learner in [c for c in Stream.Learner.values if c != Stream.Learner.MODEL]:
                try:
                    results["online"][learner] = online(ws, opts, sources, learner)
                except (RuntimeError, TimeoutError) as exc:
                    results["online"][learner] = {"error": str(exc)}
        if "soak" in parts:
            try:
                results["soak"] = soak(ws, opts, sources)
            except (RuntimeError, TimeoutError) as exc:
                results["soak"] = {"error": str(exc)}
    (WORK / "results.json").write_text(json.dumps(results, default=str))
    return report(results)
