"""``python -m bench`` (``make bench``): print the raw-vs-pynomaly table."""

import sys

from bench.engine import main

sys.exit(main())
