"""Shared fixtures: personas, a real Celery worker, a real ASGI server, a real browser.

Personas (healthchecks style): alice owns tenant A, bob is her teammate (analyst),
vera views it, and charlie owns tenant B and must be refused everything of A's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django must still allow ORM
# calls from the test body there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PASSWORD = "correct-horse-battery-staple"


# ---------------------------------------------------------------- the Celery broker
# PYNOMALY_TEST_BROKER=amqp://guest:guest@127.0.0.1:5672/<vhost> runs the Celery tests on
# RabbitMQ (results stay in Redis): the settings and every worker subprocess read it as
# CELERY_BROKER_URL, and the session's default queue gets a name of its own, deleted at the end.
# pytest-django has read the settings before this module: they are changed in place (the
# Celery app reads them on first use, later), the environment for the subprocesses.
TEST_BROKER = os.environ.get("PYNOMALY_TEST_BROKER", "")
if TEST_BROKER:
    from django.conf import settings as _settings

    os.environ["CELERY_BROKER_URL"] = _settings.CELERY_BROKER_URL = TEST_BROKER
    os.environ["CELERY_QUEUE"] = f"pynomaly-test-{os.getpid()}"
    _settings.CELERY_TASK_DEFAULT_QUEUE = os.environ["CELERY_QUEUE"]


def delete_broker_queue(name: str) -> None:
    """On RabbitMQ, delete a test's queue and its exchange (an empty Redis queue is no key)."""
    if not TEST_BROKER.startswith("amqp"):
        return
    from kombu import Connection

    with Connection(TEST_BROKER, connect_timeout=5) as conn:
        channel = conn.default_channel
        channel.queue_delete(name)
        channel.exchange_delete(name)


def pytest_sessionfinish(session, exitstatus):
    if TEST_BROKER.startswith("amqp"):
        delete_broker_queue(os.environ["CELERY_QUEUE"])


# ---------------------------------------------------------------- fast password hashing
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Fixtures that start a web server process (it checks passwords with the production hashers),
# including those that ask for ``asgi_server`` late, with request.getfixturevalue, so that
# their settings apply to it: such a fixture is not in a test's static fixture names.
SERVER_FIXTURES = {"asgi_server", "stack", "server", "server_without_debug", "small_limit_server"}
SERVER_FIXTURES |= {"lb_cluster"}  # tests/integration/test_load_balancer.py: two web processes


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """PBKDF2 costs ~0.5 s per persona here; the tests are about access, not hashing.

    Not for tests with a server process (``SERVER_FIXTURES``): it checks passwords with the
    production hashers, so the personas it signs in must be hashed with them. The engine's
    tests may run without pytest-django (``-p no:django``) and then skip this.
    """
    if SERVER_FIXTURES & set(request.fixturenames) or not request.config.pluginmanager.hasplugin(
        "django"
    ):
        return
    request.getfixturevalue("settings").PASSWORD_HASHERS = FAST_HASHERS


# ---------------------------------------------------------------- personas
def _user(email: str):
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=email.split("@")[0], email=email, password=PASSWORD
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db):
    return _user("alice@example.com")


@pytest.fixture
def tenant_a(alice):
    from apps.tenants.services import tenant_create

    return tenant_create(name="Acme", owner=alice)


@pytest.fixture
def bob(tenant_a):
    from apps.tenants.services import membership_add

    user = _user("bob@example.com")
    membership_add(tenant=tenant_a, user=user, role="analyst")
    return user


@pytest.fixture
def vera(tenant_a):
    from apps.tenants.services import membership_add

    user = _user("vera@example.com")
    membership_add(tenant=tenant_a, user=user, role="viewer")
    return user


@pytest.fixture
def charlie(db):
    return _user("charlie@example.com")


@pytest.fixture
def tenant_b(charlie):
    from apps.tenants.services import tenant_create

    return tenant_create(name="Bravo", owner=charlie)


def _client_for(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def alice_client(alice, tenant_a):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob):
    return _client_for(bob)


@pytest.fixture
def vera_client(vera):
    return _client_for(vera)


@pytest.fixture
def charlie_client(charlie, tenant_b):
    return _client_for(charlie)


def run_async(coro):
    """``asyncio.run`` in a fresh thread: Playwright's sync API may hold this thread's loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ---------------------------------------------------------------- real services
@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (in a thread) on the real broker (Redis, or PYNOMALY_TEST_BROKER)."""
    from celery.contrib.testing.worker import start_worker

    from pynomaly_web.celery import app

    # The queue is named: a worker started with queues=[...] (tests of /readyz and /metrics)
    # narrows the app's consumed queues for every later worker of the process to its own.
    queues = [app.conf.task_default_queue]
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=queues
    ) as worker:
        yield worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A local S3-compatible server (moto's server mode) on loopback: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class S3Bucket:
    """The test's bucket: its name, a boto3 client on it, and the MEDIA_ROOT nothing may use."""

    def __init__(self, client, name: str, media_root: Path):
        self.client, self.name, self.media_root = client, name, media_root

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture
def s3_storage(s3_server, settings, tmp_path, monkeypatch):
    """Stored files in an S3 bucket of this test's own on the local S3 server.

    ``STORAGES["default"]`` is what settings.py makes of ``STORAGE_S3_BUCKET`` (credentials
    from the environment, as in production); MEDIA_ROOT names a folder that must stay absent.
    """
    import uuid

    import boto3

    from pynomaly_web.settings import s3_storage as s3_default

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    region = "us-east-1"
    name = f"pynomaly-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name=region)
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_default(name, endpoint_url=s3_server, region=region),
    }
    settings.MEDIA_ROOT = str(tmp_path / "media-unused")
    bucket = S3Bucket(client, name, Path(settings.MEDIA_ROOT))
    yield bucket
    for key in bucket.keys():
        client.delete_object(Bucket=name, Key=key)
    client.delete_bucket(Bucket=name)


def wait_for_port(
    port: int, proc: subprocess.Popen, log: Path, what: str, *, timeout: float
) -> None:
    """Return once ``proc`` accepts connections on ``port``; kill it and fail with its log's
    tail if it exits or does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{what} did not start: " + log.read_text()[-2000:]) from None
            time.sleep(0.1)


class AsgiServer:
    def __init__(self, url: str, proc: subprocess.Popen):
        self.url = url
        self.proc = proc
        self.host = url.split("//", 1)[1]

    def __str__(self) -> str:
        return self.url


def _test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def asgi_server(transactional_db, settings, tmp_path_factory):
    """The real ASGI app (HTTP + WebSocket, served as in production) against the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    log = tmp_path_factory.mktemp("web") / "server.log"
    with open(log, "wb") as err:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    wait_for_port(port, proc, log, "the web server", timeout=30)
    yield AsgiServer(f"http://127.0.0.1:{port}", proc)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---------------------------------------------------------------- browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_required() -> bool:
    return os.environ.get("PYNOMALY_REQUIRE_BROWSER", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def playwright_instance():
    if not Path(CHROMIUM).exists():
        if _browser_required():
            pytest.fail(f"PYNOMALY_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def login(page, server, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form, the way a person does."""
    page.goto(f"{server.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


# ---------------------------------------------------------------- tiers
_E2E_FIXTURES = {"playwright_instance", "browser", "page"}
_INTEGRATION_FIXTURES = {"asgi_server", "celery_worker", "live_server"}
_CELERY_FIXTURES = {"celery_worker", "prefork_worker"}


def pytest_collection_modifyitems(config, items):
    """Mark tests by folder and by what they start, so `-m "not e2e and not integration"`
    (make test-fast) leaves out every browser, live server and worker, marked by hand or not."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        tier = item.path.relative_to(ROOT / "tests").parts[0]
        if tier == "e2e" or used & _E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)
        if tier in ("e2e", "integration") or used & (_E2E_FIXTURES | _INTEGRATION_FIXTURES):
            item.add_marker(pytest.mark.integration)
        if used & _CELERY_FIXTURES:
            item.add_marker(pytest.mark.celery)
