"""The sandbox runs a parse in a child the OS keeps within memory, CPU and wall-clock limits."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pynomaly.errors import DataError, LimitExceeded
from pynomaly.sandbox import ParseLimits, SandboxLimit, run_limited

T = "tests.engine.sandbox_targets"
LIMITS = {
    "max_bytes": 1 << 30,
    "max_rows": 10_000_000,
    "max_columns": 10_000,
    "max_line_bytes": 1 << 20,
    "max_uncompressed_bytes": 1 << 30,
}


def test_it_returns_the_childs_json_result(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    assert run_limited(f"{T}:shape", {"path": str(path), "limits": LIMITS}) == {
        "rows": 2,
        "columns": 2,
    }


def test_an_allocation_over_the_memory_limit_fails_with_the_limit_named():
    with pytest.raises(SandboxLimit, match="the file needs more than 700 MB to read") as err:
        run_limited(f"{T}:allocate", {"mb": 2000}, ParseLimits(max_memory_mb=700))
    assert err.value.kind == "memory"


def test_a_parquet_dictionary_bomb_fails_in_the_child_and_not_here(tmp_path):
    path = tmp_path / "bomb.parquet"
    indices = pa.array(np.zeros(1_000_000, dtype=np.int32))
    pq.write_table(
        pa.table({"a": pa.DictionaryArray.from_arrays(indices, pa.array(["x" * 10_000]))}), path
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SandboxLimit, match="more than 800 MB"):
        run_limited(f"{T}:decode", {"path": str(path)}, ParseLimits(800))
    # ru_maxrss is in KiB: this process did not hold the 10 GB column.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10
    # The child's own peak: RUSAGE_CHILDREN of a fresh process that ran only this sandbox
    # (in this process it also counts every earlier child of the suite: workers, servers).
    probe = (
        "import resource, sys\n"
        "from pynomaly.sandbox import ParseLimits, SandboxLimit, run_limited\n"
        "try:\n"
        f"    run_limited({T + ':decode'!r}, {{'path': sys.argv[1]}}, ParseLimits(800))\n"
        "except SandboxLimit:\n"
        "    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) < 900 << 10


def test_cpu_time_over_the_limit_fails_with_the_limit_named():
    with pytest.raises(SandboxLimit, match="reading took longer than 2 CPU seconds") as err:
        run_limited(f"{T}:spin", {"seconds": 30}, ParseLimits(max_cpu_seconds=2))
    assert err.value.kind == "cpu"


def test_wall_time_over_the_timeout_kills_the_child():
    started = time.monotonic()
    with pytest.raises(SandboxLimit, match="reading took longer than 5 seconds") as err:
        run_limited(f"{T}:sleep", {"seconds": 120}, ParseLimits(timeout_seconds=5))
    assert err.value.kind == "timeout"
    assert time.monotonic() - started < 60


def test_a_data_error_keeps_its_message():
    with pytest.raises(DataError, match="^ragged row at line 3$"):
        run_limited(f"{T}:refuse", {"message": "ragged row at line 3"})


def test_a_limit_in_the_child_is_a_limit_here(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(20)) + "\n" + ",".join("1" * 20) + "\n")
    with pytest.raises(LimitExceeded, match="20 columns; the limit is 10 columns"):
        run_limited(f"{T}:shape", {"path": str(path), "limits": {**LIMITS, "max_columns": 10}})


def test_a_crashing_reader_is_a_data_error_not_a_dead_caller():
    with pytest.raises(DataError, match="the reader stopped unexpectedly"):
        run_limited(f"{T}:crash", {})


def test_results_travel_as_json_only():
    with pytest.raises(DataError, match="TypeError"):
        run_limited(f"{T}:unserialisable", {})


def test_the_child_dies_with_its_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import psutil

    code = (
        f"from pynomaly.sandbox import run_limited\nrun_limited('{T}:sleep', {{'seconds': 120}})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], env=os.environ)
    deadline = time.monotonic() + 60
    while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    (child,) = psutil.Process(parent.pid).children()
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    child.wait(timeout=30)  # gone: no orphaned parse keeps running
    assert not child.is_running()
