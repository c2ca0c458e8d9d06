"""``python -m bench`` (``make bench``): the raw-vs-pynomaly table, the platform's, then online scoring.

``--only TEXT`` picks jobs whose name contains TEXT: engine jobs (``csv 1Mx10 iforest``…), the
platform job (``platform csv 1Mx10 iforest``: ``--only platform`` runs it alone) and online
scoring (``--only scoring``). ``--scoring-only`` runs just online scoring, ``--no-scoring``
skips it.
"""

import argparse
import sys

from bench import platform as platform_bench
from bench import scoring
from bench.engine import main

argv = [a for a in sys.argv[1:] if a not in ("--scoring-only", "--no-scoring")]
scoring_only, no_scoring = "--scoring-only" in sys.argv[1:], "--no-scoring" in sys.argv[1:]
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--only", action="append")
_pre.add_argument("--quick", action="store_true")
_pre.add_argument("--rows", type=int)
_known, _ = _pre.parse_known_args(argv)
_only = _known.only or []
_SCORING = ("scoring", "online", "online scoring")
_platform_name = platform_bench.job_name(_known.rows or (100_000 if _known.quick else 1_000_000))
_engine_wanted = not _only or any("platform" not in o and o not in _SCORING for o in _only)
_platform_wanted = not _only or any(o in _platform_name for o in _only)
_scoring_wanted = not no_scoring and (not _only or any(o in _SCORING for o in _only))

if "-h" in argv or "--help" in argv:
    sys.exit(main(argv))
if scoring_only:
    sys.exit(scoring.main(quick=_known.quick))
status = main(argv) if _engine_wanted else 0
if _platform_wanted:
    print(flush=True)
    status = platform_bench.main(argv) or status
if _scoring_wanted:
    status = scoring.main(quick=_known.quick) or status
sys.exit(status)
