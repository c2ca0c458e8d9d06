"""Who holds a piece of work (a run, an ingest), recorded so another process can tell whether
the holder still lives.

A claim names the host, the pid and the pid's start time of the process that took the work.
On the same host a dead holder is certain at once (no such pid, or a pid reused by a process
that started at another time); on another host only the age of the work's heartbeat can tell.
No Django import here: the runs and datasets services both use it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

# psutil derives start times from boot time + clock ticks: equal for the same process,
# different by at least a tick for a pid reused later.
_START_TOLERANCE = 0.05


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: float


_me: Holder | None = None
_held: set[str] = set()
_lock = threading.Lock()


def current() -> Holder:
    """This process as a holder (computed once per process: a forked child gets its own)."""
    global _me
    pid = os.getpid()
    if _me is None or _me.pid != pid:
        _me = Holder(host=socket.gethostname(), pid=pid, started=psutil.Process(pid).create_time())
    return _me


@contextmanager
def holding(key: str) -> Iterator[None]:
    """Mark ``key`` as being worked on by this process for the duration of the block.

    A claim recorded by this very process for work it no longer does (the attempt ended
    without finishing the work) is then known to be dead, even though the pid lives.
    """
    with _lock:
        _held.add(key)
    try:
        yield
    finally:
        with _lock:
            _held.discard(key)


def holder_alive(*, key: str, host: str, pid: int | None, started: float | None) -> bool | None:
    """True/False when this host can tell whether the holder works on ``key``; None otherwise."""
    if not host or pid is None or host != socket.gethostname():
        return None
    me = current()
    if pid == me.pid and started is not None and abs(started - me.started) < _START_TOLERANCE:
        with _lock:
            return key in _held
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # someone else's live process: not ours to call dead
    if started is None:
        return True
    return abs(created - started) < _START_TOLERANCE


def row_holder_alive(row, *, key: str, now, silent_for: float) -> bool:
    """Whether the process that claimed ``row`` (a Run or an Upload) still works on it.

    Same host: known at once from the pid. Another host, or a claim that named no holder:
    only a heartbeat younger than ``silent_for`` seconds says it lives.
    """
    alive = holder_alive(
        key=key, host=row.holder_host, pid=row.holder_pid, started=row.holder_started
    )
    if alive is not None:
        return alive
    return row.heartbeat_at is not None and (now - row.heartbeat_at).total_seconds() < silent_for
