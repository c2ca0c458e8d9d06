"""The engine stands alone: no web framework, and a catalogue that loads no detector."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pynomaly

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_every_engine_module_pulls_in_no_web_framework():
    # __main__ runs the command line when imported; it only imports pynomaly.cli
    modules = [
        f"pynomaly.{m.name}"
        for m in pkgutil.iter_modules(pynomaly.__path__)
        if m.name != "__main__"
    ]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in "
        "('django', 'celery', 'channels', 'pynomaly_web'))\n"
        "print(json.dumps(bad))"
    )

    assert _run(code) == []


def test_listing_the_catalogue_imports_no_detector_and_no_torch():
    code = (
        "import json, sys\n"
        "from pynomaly import catalogue\n"
        "specs = [s.to_dict() for s in catalogue.list_detectors()]\n"
        "catalogue.get_detector('iforest').validate_params({'n_estimators': '50'})\n"
        "loaded = sorted(k for k in sys.modules if k.startswith('pyod.models.') "
        "or k.split('.')[0] in ('torch', 'numba', 'xgboost'))\n"
        "print(json.dumps({'n': len(specs), 'loaded': loaded}))"
    )

    outcome = _run(code)

    assert outcome["n"] > 40
    assert outcome["loaded"] == []


def test_building_a_detector_imports_only_its_own_module():
    code = (
        "import json, sys\n"
        "from pynomaly import catalogue\n"
        "catalogue.build_detector('ecod', {}, seed=0)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.startswith('pyod.models.'))))"
    )

    loaded = _run(code)

    assert "pyod.models.ecod" in loaded
    assert "pyod.models.iforest" not in loaded
