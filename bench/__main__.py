"""``python -m bench`` (``make bench``): the raw-vs-pynomaly table, the platform's, online scoring, load.

``--only TEXT`` picks jobs whose name contains TEXT: engine jobs (``csv 1Mx10 iforest``…), the
platform job (``platform csv 1Mx10 iforest``: ``--only platform`` runs it alone), online
scoring (``--only scoring``) and the load test (``--only load``: 50 clients for 60 s on
PostgreSQL; ``--load-seconds S`` and ``--load-clients N`` change that). ``--scoring-only`` /
``--load-only`` run just that part, ``--no-scoring`` / ``--no-load`` skip it.
``--automl-only`` runs the automatic-selection bench on the ADBench sets (``bench.automl``;
``--no-automl`` skips it, ``--only automl`` picks it).
"""

import argparse
import sys

from bench import automl, load, scoring
from bench import platform as platform_bench
from bench.engine import main

_FLAGS = (
    "--scoring-only",
    "--no-scoring",
    "--load-only",
    "--no-load",
    "--automl-only",
    "--no-automl",
)
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--only", action="append")
_pre.add_argument("--quick", action="store_true")
_pre.add_argument("--rows", type=int)
_pre.add_argument("--load-seconds", type=float)
_pre.add_argument("--load-clients", type=int, default=50)
_known, _ = _pre.parse_known_args(sys.argv[1:])
# The load options are this module's; the engine and platform parsers never see them.
_strip = argparse.ArgumentParser(add_help=False)
_strip.add_argument("--load-seconds")
_strip.add_argument("--load-clients")
argv = [a for a in _strip.parse_known_args(sys.argv[1:])[1] if a not in _FLAGS]
flags = set(sys.argv[1:]) & set(_FLAGS)
_only = _known.only or []
_SCORING = ("scoring", "online", "online scoring")
_LOAD = ("load",)
_platform_name = platform_bench.job_name(_known.rows or (100_000 if _known.quick else 1_000_000))
_engine_wanted = not _only or any(
    "platform" not in o and o not in (*_SCORING, *_LOAD, "automl") for o in _only
)
_platform_wanted = not _only or any(o in _platform_name for o in _only)
_scoring_wanted = "--no-scoring" not in flags and (not _only or any(o in _SCORING for o in _only))
_load_wanted = "--no-load" not in flags and (not _only or any(o in _LOAD for o in _only))
_automl_wanted = "--no-automl" not in flags and (not _only or "automl" in _only)
_load_seconds = _known.load_seconds or (10.0 if _known.quick else 60.0)


def _load() -> int:
    return load.main(clients=_known.load_clients, seconds=_load_seconds)


if "-h" in argv or "--help" in argv:
    print(__doc__)
    sys.exit(main(argv))
if "--scoring-only" in flags:
    sys.exit(scoring.main(quick=_known.quick))
if "--load-only" in flags:
    sys.exit(_load())
if "--automl-only" in flags:
    sys.exit(automl.main([]))
status = main(argv) if _engine_wanted else 0
if _platform_wanted:
    print(flush=True)
    status = platform_bench.main(argv) or status
if _scoring_wanted:
    status = scoring.main(quick=_known.quick) or status
if _load_wanted:
    status = _load() or status
if _automl_wanted:
    status = automl.main([]) or status
sys.exit(status)
