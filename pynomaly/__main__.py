"""``python -m pynomaly`` runs the command-line interface."""

import sys

from pynomaly.cli import main

sys.exit(main())
