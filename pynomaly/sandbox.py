"""Run a parse of untrusted data in a child process that the OS keeps within limits.

A file can claim anything about itself (a Parquet footer declaring 2×10¹² rows, a 359 KB
workbook inflating to millions of rows, a 200 MB CSV that is one line), and a parser
believes it.  Whatever survives the cheap checks is therefore parsed here: in a fresh
interpreter started with :mod:`subprocess` (never ``fork``: a worker that has run
OpenMP code can hang its forked children, and Celery's daemonic pool children may not
use :mod:`multiprocessing` at all), which first caps its own address space
(``RLIMIT_AS``) and CPU time (``RLIMIT_CPU``) and is killed after a wall-clock timeout.
Requests and results are small JSON documents — nothing is ever unpickled — and the
bulk data travels through files the child writes.

The child runs a named function (``"package.module:function"``) with keyword arguments
and returns its JSON-serialisable result.  A :class:`~pynomaly.errors.DataError` raised
in the child is re-raised in the parent with the same message; running out of memory,
CPU time or wall time becomes a :class:`SandboxLimit` naming the limit.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynomaly.errors import DataError, LimitExceeded

__all__ = ["ParseLimits", "SandboxLimit", "run_limited"]

_MB = 1 << 20


@dataclass(frozen=True)
class ParseLimits:
    """OS limits for one parse.

    Attributes
    ----------
    max_memory_mb : int
        Address space of the child (``RLIMIT_AS``), interpreter and libraries included.
    max_cpu_seconds : int
        CPU time of the child (``RLIMIT_CPU``).
    timeout_seconds : float
        Wall-clock time before the child is killed (a parse stuck waiting on I/O or
        starved by a busy machine still ends).
    """

    max_memory_mb: int = 4096
    max_cpu_seconds: int = 600
    timeout_seconds: float = 900.0


class SandboxLimit(LimitExceeded):
    """The child hit one of its :class:`ParseLimits`; ``kind`` is memory, cpu or timeout."""

    def __init__(self, message: str, *, kind: str):
        super().__init__(message)
        self.kind = kind


def _memory_message(limits: ParseLimits) -> str:
    return f"the file needs more than {limits.max_memory_mb} MB to read"


def run_limited(target: str, kwargs: dict[str, Any], limits: ParseLimits = ParseLimits()) -> Any:  # noqa: B008 - frozen dataclass
    """Call ``target(**kwargs)`` in a limited child process and return its result.

    Parameters
    ----------
    target : str
        ``"package.module:function"``; the module must be importable by the child
        (it inherits ``sys.path`` through ``PYTHONPATH``).
    kwargs : dict
        JSON-serialisable keyword arguments.
    limits : ParseLimits

    Returns
    -------
    object
        The function's JSON-serialisable return value.

    Raises
    ------
    DataError
        The function raised a ``DataError`` (same message), or the child died.
    SandboxLimit
        Memory, CPU time or wall time ran out.
    """
    with tempfile.TemporaryDirectory(prefix="pynomaly-sandbox-") as tmp:
        result_path = Path(tmp) / "result.json"
        request = {
            "target": target,
            "kwargs": kwargs,
            "result_path": str(result_path),
            "limits": dataclasses.asdict(limits),
            "parent": os.getpid(),
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        # One thread per pool is plenty for one file, and every idle thread arena costs
        # address space that RLIMIT_AS counts.
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
        start = time.monotonic()
        proc = subprocess.Popen(
            # -P: the working directory is not put on sys.path (nothing there is imported).
            [sys.executable, "-P", "-m", "pynomaly.sandbox"],
            cwd=tmp,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        try:
            _, stderr = proc.communicate(json.dumps(request).encode(), limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            raise SandboxLimit(
                f"reading took longer than {limits.timeout_seconds:,.0f} seconds", kind="timeout"
            ) from None
        finally:
            # Also on the caller's own time limit (Celery's SoftTimeLimitExceeded): the
            # child never outlives the call.
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        elapsed = time.monotonic() - start
        outcome = _read_result(result_path)
    return _settle(proc.returncode, outcome, stderr.decode(errors="replace"), limits, elapsed)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            outcome: dict[str, Any] = json.load(fh)
            return outcome
    except (OSError, ValueError):
        return None


def _settle(
    code: int, outcome: dict[str, Any] | None, stderr: str, limits: ParseLimits, elapsed: float
) -> Any:
    if outcome is not None and "result" in outcome:
        return outcome["result"]
    if outcome is not None and "error" in outcome:
        kind, message = outcome["error"], outcome.get("message", "")
        if kind == "memory":
            raise SandboxLimit(_memory_message(limits), kind="memory")
        if kind == "limit":
            raise LimitExceeded(message)
        if kind == "data":
            raise DataError(message)
        raise DataError(f"the file could not be read ({message})")
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and elapsed < limits.timeout_seconds:
        # SIGXCPU at the soft CPU limit; SIGKILL at the hard one (or from the kernel's OOM
        # killer, which only RLIMIT_AS can pre-empt — so say which limit fits the facts).
        if code == -signal.SIGXCPU or "MemoryError" not in stderr:
            raise SandboxLimit(
                f"reading took longer than {limits.max_cpu_seconds:,} CPU seconds", kind="cpu"
            )
    if "MemoryError" in stderr or "bad_alloc" in stderr or "Cannot allocate memory" in stderr:
        raise SandboxLimit(_memory_message(limits), kind="memory")
    last = stderr.strip().splitlines()[-1:] or [f"exit status {code}"]
    raise DataError(f"the reader stopped unexpectedly ({last[0][:200]})")


# --------------------------------------------------------------------------- child


def _die_with_parent(parent: int) -> None:
    # A worker killed mid-ingest must not leave its parse running (Linux: PR_SET_PDEATHSIG).
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _limit_self(limits: dict[str, Any]) -> None:
    import resource

    memory = int(limits["max_memory_mb"]) * _MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits["max_cpu_seconds"])
    # The soft limit sends SIGXCPU (reported as "took longer"); the hard one kills.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _write(path: str, payload: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, allow_nan=False)
    os.replace(tmp, path)


def _child() -> int:
    request = json.loads(sys.stdin.buffer.read())
    result_path = request["result_path"]
    _die_with_parent(request["parent"])
    _limit_self(request["limits"])
    try:
        module, _, name = request["target"].partition(":")
        func = getattr(importlib.import_module(module), name)
        result = func(**request["kwargs"])
    except MemoryError:
        payload = {"error": "memory"}
    except RecursionError:
        payload = {"error": "data", "message": "the data is nested too deeply to read"}
    except LimitExceeded as exc:
        payload = {"error": "limit", "message": str(exc)}
    except DataError as exc:
        payload = {"error": "data", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
        payload = {"error": "other", "message": f"{type(exc).__name__}: {text}"}
    else:
        payload = {"result": result}
    try:
        _write(result_path, payload)
    except MemoryError:
        _write(result_path, {"error": "memory"})
    return 0


if __name__ == "__main__":
    sys.exit(_child())
