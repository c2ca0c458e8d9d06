"""Web processes behind HAProxy (deploy/haproxy/haproxy.cfg): requests/s with 1 and 2 processes,
and the failed requests when one of two is killed (SIGKILL) under load.

``python -m bench --only loadbalancer`` (``--loadbalancer-only``; ``--quick`` for 5 s runs
instead of 20 s). The same seeded PostgreSQL stack as ``bench.load`` (``BENCH_DATABASE_URL``),
N client threads (4) with keep-alive sessions, each asking in turn for the signed-in dataset
list page and the API's dataset list through HAProxy. "1 process" points both of the config's
server lines at the same process. Needs ``haproxy`` on PATH (Debian: ``apt-get install haproxy``).

The helpers here (``WebProcesses``, ``HAProxy``, ``hammer``) are also what
tests/integration/test_load_balancer.py runs.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{url} did not start: " + log.read_text()[-1500:])
        time.sleep(0.2)


class WebProcesses:
    """``count`` processes of ``python -m pynomaly_web.serve`` on loopback, one environment."""

    def __init__(self, env: dict[str, str], count: int, log_dir: Path):
        self.env, self.count, self.log_dir = env, count, log_dir
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []

    def __enter__(self) -> WebProcesses:
        try:
            for i in range(self.count):
                port = free_port()
                log = self.log_dir / f"web{i + 1}.log"
                with open(log, "wb") as err:  # a file: a full pipe would block the server
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port),
                         "--no-access-log"],
                        cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=err,
                    )  # fmt: skip
                self.procs.append(proc)
                self.ports.append(port)
            for proc, port, i in zip(self.procs, self.ports, range(self.count), strict=True):
                _wait_healthy(f"http://127.0.0.1:{port}", proc, self.log_dir / f"web{i + 1}.log")
        except BaseException:
            self.__exit__()
            raise
        return self

    def kill(self, index: int) -> None:
        """SIGKILL: no graceful shutdown, open connections are simply cut."""
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(timeout=10)

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


class HAProxy:
    """haproxy -f deploy/haproxy/haproxy.cfg with its addresses from the environment."""

    def __init__(self, backends: list[int], log_dir: Path):
        if HAPROXY is None:
            raise RuntimeError("haproxy is not installed (Debian: apt-get install haproxy)")
        if len(backends) != 2:
            raise ValueError("the config has two server lines: give two ports (maybe the same)")
        self.port, self.stats_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYNOMALY_LB_BIND": f"127.0.0.1:{self.port}",
            "PYNOMALY_LB_STATS": f"127.0.0.1:{self.stats_port}",
            "PYNOMALY_WEB1": f"127.0.0.1:{backends[0]}",
            "PYNOMALY_WEB2": f"127.0.0.1:{backends[1]}",
        }
        self.log = log_dir / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> HAProxy:
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(HAPROXY), "-db", "-f", str(CONFIG)],
                env=self.env, stdout=err, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self.all_up():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("haproxy did not bring its servers up: " + self.log.read_text())
            time.sleep(0.2)
        return self

    def stats(self) -> dict[str, dict[str, str]]:
        """The backend's servers' rows of HAProxy's CSV stats, by server name."""
        import requests

        text = requests.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5).text
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            r["svname"]: r
            for r in rows
            if r["pxname"] == "pynomaly_web" and r["svname"] not in ("FRONTEND", "BACKEND")
        }

    def all_up(self) -> bool:
        try:
            servers = self.stats()
        except OSError:
            return False
        return bool(servers) and all(r["status"] == "UP" for r in servers.values())

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def hammer(
    url: str,
    *,
    page: str,
    api: str,
    cookie: str,
    token: str,
    clients: int,
    seconds: float,
    during=None,
) -> tuple[int, Counter, list[str]]:
    """``clients`` threads GET ``page`` (signed in) and ``api`` (bearer token) in turn for
    ``seconds``; ``during()`` runs in this thread meanwhile. Returns (answers that were 200,
    the other outcomes by status or exception name, a few of their descriptions)."""
    import requests

    stop = threading.Event()
    lock = threading.Lock()
    ok = [0]
    failures: Counter = Counter()
    examples: list[str] = []

    def client() -> None:
        with requests.Session() as s:
            s.headers["Cookie"] = cookie
            while not stop.is_set():
                for path, headers in ((page, {}), (api, {"Authorization": f"Bearer {token}"})):
                    try:
                        r = s.get(url + path, headers=headers, timeout=30, allow_redirects=False)
                        outcome = "200" if r.status_code == 200 else str(r.status_code)
                        detail = f"{path}: {r.status_code} {r.text[:200]}"
                    except requests.RequestException as exc:
                        outcome, detail = type(exc).__name__, f"{path}: {exc}"
                    with lock:
                        if outcome == "200":
                            ok[0] += 1
                        else:
                            failures[outcome] += 1
                            if len(examples) < 5:
                                examples.append(detail)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    started = time.monotonic()
    if during is not None:
        during()
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return ok[0], failures, examples


def main(*, quick: bool = False) -> int:
    from bench.load import Stack, _login

    if HAPROXY is None:
        print("\nloadbalancer: skipped, haproxy is not installed (apt-get install haproxy)")
        return 0
    seconds, clients = (5.0, 4) if quick else (20.0, 4)
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pynomaly_bench_lb"
    )
    print(
        f"\nloadbalancer: {clients} clients for {seconds:g} s through HAProxy "
        f"({CONFIG.relative_to(ROOT)}), signed-in page + API GET in turn; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    rows: list[tuple[str, float, int, int]] = []
    with Stack(database_url) as stack, tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        env = {**stack.web_env}
        stack.stop_web()
        slug, token = stack.seed["slug"], stack.seed["token"]
        page, api = f"/t/{slug}/datasets/", "/api/v1/datasets"
        with WebProcesses(env, 2, log_dir) as web:
            session = _login(f"http://127.0.0.1:{web.ports[0]}")
            cookie = f"sessionid={session.cookies['sessionid']}"
            runs = [("1 process", [web.ports[0]] * 2), ("2 processes", web.ports)]
            # interleaved: 1, 2, 1, 2 — the machine's other load hits both alike
            results: dict[str, list[tuple[int, int]]] = {name: [] for name, _ in runs}
            for _round in range(2):
                for name, ports in runs:
                    with HAProxy(ports, log_dir) as lb:
                        ok, failures, _ = hammer(
                            lb.url, page=page, api=api, cookie=cookie, token=token,
                            clients=clients, seconds=seconds / 2,
                        )  # fmt: skip
                    results[name].append((ok, sum(failures.values())))
            for name, got in results.items():
                ok = sum(o for o, _ in got)
                rows.append((name, ok / seconds, sum(f for _, f in got), ok))
            with HAProxy(web.ports, log_dir) as lb:
                ok, failures, examples = hammer(
                    lb.url, page=page, api=api, cookie=cookie, token=token, clients=clients,
                    seconds=seconds, during=lambda: (time.sleep(seconds / 3), web.kill(0)),
                )  # fmt: skip
                retried = sum(
                    int(r["wretr"] or 0) + int(r["wredis"] or 0) for r in lb.stats().values()
                )
    print(f"{'web processes':<28}{'requests/s':>12}{'failed':>8}{'answered':>10}")
    for name, rate, failed, answered in rows:
        print(f"{name:<28}{rate:>12.1f}{failed:>8}{answered:>10}")
    print(
        f"{'2, one SIGKILLed at ' + format(seconds / 3, '.0f') + ' s':<28}{ok / seconds:>12.1f}"
        f"{sum(failures.values()):>8}{ok:>10}   (HAProxy retries+redispatches: {retried})"
    )
    for e in examples:
        print("  failed:", e)
    if rows[0][1] > 0:
        print(
            f"2 processes / 1 process: {rows[1][1] / rows[0][1]:.2f}x (machine: {os.cpu_count()} cores)"
        )
    return 1 if sum(failures.values()) else 0
