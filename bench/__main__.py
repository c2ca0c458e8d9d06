"""``python -m bench`` (``make bench``): print the raw-vs-pynomaly table, then the platform's.

``--only TEXT`` picks jobs whose name contains TEXT; the platform job is named
``platform csv …x10 iforest``, so ``--only platform`` runs it alone.
"""

import argparse
import sys

from bench import platform as platform_bench
from bench.engine import main

_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--only", action="append")
_pre.add_argument("--quick", action="store_true")
_pre.add_argument("--rows", type=int)
_known, _ = _pre.parse_known_args()
_only = _known.only or []
_platform_name = platform_bench.job_name(_known.rows or (100_000 if _known.quick else 1_000_000))
_engine_wanted = not _only or any("platform" not in o for o in _only)
_platform_wanted = not _only or any(o in _platform_name for o in _only)

if "-h" in sys.argv[1:] or "--help" in sys.argv[1:]:
    sys.exit(main())
status = main() if _engine_wanted else 0
if _platform_wanted:
    print(flush=True)
    status = platform_bench.main(sys.argv[1:]) or status
sys.exit(status)
