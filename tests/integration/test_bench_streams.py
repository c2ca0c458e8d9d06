"""The streams bench still runs end to end: a tiny record count through the real processor.

``python -m bench`` is kept out of the suite; this only checks that its streams part starts
Redis, tansu and the processor, stores every record and prints its tables (figures of a smoke
run mean nothing and are not asserted against the targets).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_streams_bench_smoke_run_prints_its_tables():
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--streams-only", "--quick", "--streams-brokers",
         "redis,kafka", "--streams-records", "15000", "--streams-latency-seconds", "2",
         "--streams-online-records", "2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for source in ("redis", "kafka"):
        row = next(line for line in lines if re.match(rf"{source}\s+1/1\s", line))
        processor_rate = float(row.split()[4].replace(",", ""))
        assert processor_rate > 0
        assert any(re.match(rf"{source}\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d.]+", x) for x in lines)
    assert any(line.startswith("Half-Space Trees") for line in lines)
