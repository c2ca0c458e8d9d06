"""``python -m bench`` (``make bench``): the raw-vs-pynomaly table, the platform's, then the parts.

``--only TEXT`` picks jobs whose name contains TEXT: engine jobs (``csv 1Mx10 iforest``…), the
platform job (``platform csv 1Mx10 iforest``: ``--only platform`` runs it alone), and the parts
below by name (``--only load``). Each part also has ``--NAME-only`` (run just it) and
``--no-NAME`` (skip it):

* ``scoring`` — online scoring through the real stack (``bench.scoring``);
* ``load`` — 50 clients for 60 s on PostgreSQL (``--load-seconds S``, ``--load-clients N``);
* ``monitor`` — a monitor execution on 100k new rows from PostgreSQL against ``pynomaly score``
  on the same rows (``bench.monitor``);
* ``alerts`` — end of a monitor execution to the webhook and to the in-app notice, through a
  real worker and web server (``bench.alerts``);
* ``streams`` — the stream processor on Redis Streams, Kafka (tansu), MQTT and NATS: throughput
  beside the engine's ceiling, produce → anomaly latency, the online learner, an optional soak
  (``--streams-soak``; ``bench.streams`` lists its ``--streams-*`` options);
* ``automl`` — automatic selection against every default detector and the per-dataset oracle
  on the ADBench sets, with 0 %, 1 % and 5 % of the anomalies labelled (``bench.automl``);
* ``figures`` — the results page of a generated 1M-row run and its charts' JSON, cold,
  Redis-only and warm, with the figure cache's hit rate (``bench.figures``;
  ``--figures-rows N``, ``--figures-repeat R``);
* ``loadbalancer`` — requests/s through HAProxy with 1 vs 2 web processes and the failed
  requests when one of two is SIGKILLed under load (``bench.loadbalancer``; needs haproxy);
* ``fanout`` — a large run (1M and 5M rows) scored in parts over 1 vs 2 Celery worker
  processes, beside raw PyOD (``bench.fanout``; ``--fanout-rows N[,N…]``, ``--fanout-repeat R``);
* ``edge`` — the ONNX edge scorer (``pynomaly-edge``) beside ``pynomaly score`` on the same CSV:
  records/s, peak RSS and install size (``bench.edge``).
"""

import argparse
import sys
from collections.abc import Callable

from bench import (
    alerts,
    automl,
    deep,
    edge,
    fanout,
    figures,
    load,
    loadbalancer,
    monitor,
    scoring,
    streams,
)
from bench import platform as platform_bench
from bench.engine import main

_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--only", action="append")
_pre.add_argument("--quick", action="store_true")
_pre.add_argument("--rows", type=int)
_pre.add_argument("--load-seconds", type=float)
_pre.add_argument("--load-clients", type=int, default=50)
_known, _ = _pre.parse_known_args(sys.argv[1:])
_quick = _known.quick


def _load(_argv: list[str]) -> int:
    seconds = _known.load_seconds or (10.0 if _quick else 60.0)
    return load.main(clients=_known.load_clients, seconds=seconds)


# name, the --only words that pick it, how to run it (given the engine's argv)
PARTS: list[tuple[str, tuple[str, ...], Callable[[list[str]], int]]] = [
    ("scoring", ("scoring", "online", "online scoring"), lambda a: scoring.main(quick=_quick)),
    ("load", ("load",), _load),
    ("monitor", ("monitor",), monitor.main),
    ("alerts", ("alerts",), lambda a: alerts.main(quick=_quick)),
    ("streams", ("streams",), lambda a: streams.main(sys.argv[1:])),
    ("automl", ("automl",), lambda a: automl.main([])),
    ("deep", ("deep",), lambda a: deep.main(quick=_quick)),
    ("loadbalancer", ("loadbalancer", "lb"), lambda a: loadbalancer.main(quick=_quick)),
    ("edge", ("edge",), lambda a: edge.main(quick=_quick)),
    ("figures", ("figures", "cache"), lambda a: figures.main(sys.argv[1:], quick=_quick)),
    ("fanout", ("fanout", "fan-out"), lambda a: fanout.main(sys.argv[1:], quick=_quick)),
]
_FLAGS = {f for name, _, _ in PARTS for f in (f"--{name}-only", f"--no-{name}")}
# The load and streams options are for those parts; the engine and platform parsers never see them.
_strip = argparse.ArgumentParser(add_help=False)
_strip.add_argument("--load-seconds")
_strip.add_argument("--load-clients")
_strip.add_argument("--figures-rows")
_strip.add_argument("--figures-repeat")
_strip.add_argument("--fanout-rows")
_strip.add_argument("--fanout-repeat")
streams.add_options(_strip)
argv = [a for a in _strip.parse_known_args(sys.argv[1:])[1] if a not in _FLAGS]
flags = set(sys.argv[1:]) & _FLAGS
_only = _known.only or []
_part_words = {w for _, words, _ in PARTS for w in words}
_platform_name = platform_bench.job_name(_known.rows or (100_000 if _quick else 1_000_000))
_engine_wanted = not _only or any("platform" not in o and o not in _part_words for o in _only)
_platform_wanted = not _only or any(o in _platform_name for o in _only)

if "-h" in argv or "--help" in argv:
    print(__doc__)
    sys.exit(main(argv))
for name, _, run in PARTS:
    if f"--{name}-only" in flags:
        sys.exit(run(argv))
status = main(argv) if _engine_wanted else 0
if _platform_wanted:
    print(flush=True)
    status = platform_bench.main(argv) or status
for name, words, run in PARTS:
    if f"--no-{name}" not in flags and (not _only or any(o in words for o in _only)):
        status = run(argv) or status
sys.exit(status)
