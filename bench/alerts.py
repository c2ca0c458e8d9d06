"""Alert latency through the real stack: from the end of an execution to the receivers.

``python -m bench --alerts-only`` (``make bench BENCH_ARGS=--alerts-only``; ``--quick``: 20
executions instead of 60). Everything runs under a temporary folder: an embedded Redis, a
migrated SQLite database, the web server (uvicorn, HTTP + WebSocket, as ``make run`` serves)
and a real Celery worker (prefork, concurrency 2 as ``make run``) as subprocesses. A child
process with Django set up creates a monitor with two rules (webhook; in-app), a loopback
HTTP receiver and a WebSocket signed in to the dashboard's notifications socket, then for
each execution records a finished MonitorExecution and sends ``execution_finished`` — the
clock starts there — and waits for the signed webhook at the receiver and for the in-app
notice on the socket. Prints n, p50, p99 and max of both, against the targets (webhook p99
≤ 2 s, in-app p99 ≤ 1 s), with the load average.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.platform import _free_port

ROOT = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "bench-alerts@example.com", "bench-alerts-password-42"
WEBHOOK_P99_TARGET, INAPP_P99_TARGET = 2.0, 1.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ------------------------------------------------------------ the measuring child


def measure(url: str, n: int) -> dict:
    """Runs with Django set up on the bench database (the env of ``main``)."""
    import django

    django.setup()
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from websockets.sync.client import connect

    from apps.alerts.services import ChannelData, RuleData, channel_create, rule_create
    from apps.datasets.models import Dataset
    from apps.detectors.services import detector_config_create
    from apps.monitors.models import Monitor, MonitorExecution
    from apps.monitors.signals import execution_finished
    from apps.tenants.services import tenant_create
    from pynomaly.client.webhooks import verify
    from pynomaly.detect import PipelineConfig

    user = get_user_model().objects.create_user(username="bench", email=EMAIL, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    tenant = tenant_create(name="Bench alerts", owner=user)
    config = detector_config_create(
        tenant=tenant, user=user, name="forest",
        pipeline=PipelineConfig(detectors=(("iforest", {}),)).to_dict(),
    )  # fmt: skip
    dataset = Dataset.objects.create(tenant=tenant, name="stream", status=Dataset.Status.READY)
    monitor = Monitor.objects.create(
        tenant=tenant, name="bench monitor", dataset=dataset, detector_version=config.current,
        interval_seconds=60,
    )  # fmt: skip

    arrived: dict[str, dict[int, float]] = {"webhook": {}, "inapp": {}}
    bad = [0]
    secret_box = [""]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            try:
                verify(secret_box[0], dict(self.headers), body)
                number = json.loads(body)["execution"]["number"]
                arrived["webhook"].setdefault(number, now)
            except ValueError:
                bad[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook, secret = channel_create(
        tenant=tenant, user=user,
        data=ChannelData(name="hook", kind="webhook",
                         url=f"http://127.0.0.1:{receiver.server_address[1]}/in"),
    )  # fmt: skip
    secret_box[0] = secret or ""
    app, _ = channel_create(tenant=tenant, user=user, data=ChannelData(name="app", kind="inapp"))
    for name, channel in (("to webhook", hook), ("in app", app)):
        rule_create(
            monitor=monitor, user=user,
            data=RuleData(name=name, min_anomalies=1, cooldown_seconds=0, channel_ids=[channel.pk]),
        )  # fmt: skip

    session = requests.Session()
    login = f"{url}/accounts/login/"
    session.get(login)
    r = session.post(
        login,
        data={"login": EMAIL, "password": PASSWORD,
              "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": login}, allow_redirects=False,
    )  # fmt: skip
    if r.status_code != 302:
        raise RuntimeError(f"sign-in failed: HTTP {r.status_code}")
    ws = connect(
        f"ws://{url.split('//', 1)[1]}/ws/t/{tenant.slug}/notifications/",
        additional_headers={"Cookie": f"sessionid={session.cookies['sessionid']}"},
        origin=url,
    )

    def listen():
        try:
            for message in ws:
                m = re.search(r"execution #(\d+)", str(message))
                if m:
                    arrived["inapp"].setdefault(int(m.group(1)), time.time())
        except Exception:
            pass

    threading.Thread(target=listen, daemon=True).start()

    def one(number: int, timeout: float = 30.0) -> float:
        execution = MonitorExecution.objects.create(
            tenant=tenant, monitor=monitor, number=number, status="succeeded", rows=10_000,
            anomalies=25, max_severity=0.99, flagged_share=0.0025, finished_at=timezone.now(),
        )  # fmt: skip
        started = time.time()
        execution_finished.send(sender=MonitorExecution, execution=execution)
        deadline = time.monotonic() + timeout
        while number not in arrived["webhook"] or number not in arrived["inapp"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"execution #{number}: nothing arrived within {timeout:g} s")
            time.sleep(0.002)
        return started

    for warm in range(1, 4):  # first tasks pay imports and connections in each pool child
        one(warm)
    starts = {}
    for number in range(4, 4 + n):
        starts[number] = one(number)
        time.sleep(0.05)
    ws.close()
    receiver.shutdown()
    return {
        kind: [arrived[kind][k] - t for k, t in starts.items()] for kind in ("webhook", "inapp")
    } | {"bad_signatures": bad[0], "stages": _stages(set(starts))}


def _stages(numbers: set[int]) -> dict[str, dict[str, float]]:
    """Where the time went, per channel kind (medians, s): signal → trigger recorded (rule
    evaluation, in the sending process), → attempt started (broker + worker pick-up), → sent."""
    from apps.alerts.models import DeliveryAttempt

    out: dict[str, dict[str, list[float]]] = {}
    attempts = DeliveryAttempt.objects.select_related(
        "delivery__channel", "delivery__trigger__execution"
    ).filter(delivery__trigger__execution__number__in=numbers, number=1)
    for a in attempts:
        t = a.delivery.trigger
        stages = out.setdefault(a.delivery.channel.kind, {"evaluate": [], "queue": [], "send": []})
        stages["evaluate"].append((t.created_at - t.execution.finished_at).total_seconds())
        stages["queue"].append((a.started_at - t.created_at).total_seconds())
        stages["send"].append((a.latency_ms or 0) / 1000)
    return {k: {s: statistics.median(v) for s, v in st.items() if v} for k, st in out.items()}


# ------------------------------------------------------------ the stack


def main(*, quick: bool = False) -> int:
    from pynomaly_web import embedded_redis

    n = 20 if quick else 60
    print(f"alerts: {n} executions, end of execution → webhook at a loopback receiver, "
          "→ in-app notice on a connected WebSocket", flush=True)  # fmt: skip
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        work = Path(tmp)
        redis, redis_url = embedded_redis.start()
        try:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
                "REDIS_URL": redis_url,
                "MEDIA_ROOT": str(work / "media"),
                "CELERY_QUEUE": "bench-alerts",
                "PYNOMALY_OUTBOUND_ALLOW": "127.0.0.0/8",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
            }
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT, env=env, check=True,
            )  # fmt: skip
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port), "--no-access-log"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "web.log", "wb"),
            ))  # fmt: skip
            worker_log = work / "worker.log"
            procs.append(subprocess.Popen(
                [str(Path(sys.executable).with_name("celery")), "-A", "pynomaly_web", "worker",
                 "--pool=prefork", "--concurrency=2", "-Q", "bench-alerts", "--loglevel=INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(worker_log, "wb"),
            ))  # fmt: skip
            _wait_ready(port, worker_log, procs)
            child = subprocess.run(
                [sys.executable, "-c",
                 f"import json, bench.alerts as b; print('RESULT', json.dumps(b.measure({url!r}, {n})))"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            line = next((x for x in child.stdout.splitlines() if x.startswith("RESULT ")), None)
            if child.returncode != 0 or line is None:
                print(child.stderr[-3000:], file=sys.stderr)
                print((work / "worker.log").read_text(errors="replace")[-2000:], file=sys.stderr)
                return 1
            result = json.loads(line[len("RESULT ") :])
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
            embedded_redis.stop(redis)
    return _report(result)


def _wait_ready(port: int, worker_log: Path, procs: list[subprocess.Popen]) -> None:
    import socket

    deadline = time.monotonic() + 120
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if b" ready." in worker_log.read_bytes():
                    return
        except OSError:
            pass
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError("web or worker did not start: " + worker_log.read_text()[-2000:])
        time.sleep(0.1)


def _report(result: dict) -> int:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ok = True
    print(f"\n{'path':<34}{'n':>5}{'p50 s':>9}{'p99 s':>9}{'max s':>9}{'target':>10}")
    for kind, label, target in (
        ("webhook", "execution end → webhook received", WEBHOOK_P99_TARGET),
        ("inapp", "execution end → in-app on socket", INAPP_P99_TARGET),
    ):
        values = result[kind]
        p50, p99 = statistics.median(values), _quantile(values, 0.99)
        passed = p99 <= target
        ok &= passed
        print(f"{label:<34}{len(values):>5}{p50:>9.3f}{p99:>9.3f}{max(values):>9.3f}"
              f"{'≤ ' + format(target, 'g') + ' s':>10} {'ok' if passed else 'MISSED'}")  # fmt: skip
    for kind, stages in sorted(result.get("stages", {}).items()):
        print(f"  {kind:<8} medians: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
    print(f"load average {load} (1, 5, 15 min); bad signatures at the receiver: "
          f"{result['bad_signatures']}")  # fmt: skip
    return 0 if ok and not result["bad_signatures"] else 1


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv))
