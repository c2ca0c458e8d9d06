"""The SDK and the CLI against the real ASGI server: create, pause, push into Redis, read and tail anomalies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.utils import timezone

from apps.streams import push
from apps.streams.models import Stream, StreamAnomaly

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def write_token(alice, tenant_a):
    from apps.api.services import token_create

    return token_create(user=alice, tenant=tenant_a, name="streams sdk", scope="write")[1]


def _anomaly(stream, event_id: str, score: float) -> StreamAnomaly:
    return StreamAnomaly.objects.create(
        tenant=stream.tenant, stream=stream, event_id=event_id, event_time=timezone.now(),
        score=score, severity=0.9, reasons=[{"column": "x", "value": score * 10, "contribution": 1}],
        record={"x": score * 10},
    )  # fmt: skip


def test_the_sdk_creates_pauses_pushes_and_reads_a_stream(asgi_server, write_token, push_keys):
    from pynomaly.client import AuthError, Client, NotFound, ValidationError

    with Client(asgi_server.url, write_token) as api:
        stream = api.streams.create("gateway", "http", learner="hst", columns=["x"])
        push_keys.append(stream.id)
        assert stream.push_token.startswith("pys_")
        assert api.streams.get(stream.id).push_token is None
        assert api.streams.pause(stream.id).status == "paused"
        assert api.streams.resume(stream.id).status == "active"
        accepted = api.streams.push(
            stream.id, ({"x": float(i)} for i in range(12)), token=stream.push_token, batch=5
        )
        assert accepted == 12
        entries = push.redis_client().xrange(push.push_key(stream.id))
        assert [orjson.loads(f[b"data"])["x"] for _i, f in entries] == [float(i) for i in range(12)]
        with pytest.raises(AuthError, match="push token"):
            api.streams.push(stream.id, [{"x": 1}], token=write_token)
        with pytest.raises(ValidationError, match="config.url: Give a redis:"):
            api.streams.create("bad", "redis", learner="hst", columns=["x"], config={"url": "x"})
        row = Stream.objects.get(pk=stream.id)
        first = _anomaly(row, "e1", 0.91)
        page = api.streams.anomalies(stream.id)
        assert [a.event_id for a in page.items] == ["e1"] and page.next_since == first.pk
        assert "x=9.1" in page.items[0].line()
        assert [s.name for s in api.streams.list()] == ["gateway"]
        api.streams.delete(stream.id)
        with pytest.raises(NotFound):
            api.streams.get(stream.id)


def _cli(*args, env, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "pynomaly", *map(str, args)],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_cli_creates_pushes_lists_tails_and_deletes(asgi_server, write_token, push_keys,
                                                        tmp_path):  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(tmp_path / "cli.json")}
    assert _cli("login", asgi_server.url, "--token", write_token, env=env).returncode == 0

    made = _cli("streams", "create", "cli push", "--kind", "http", "--columns", "x,y", env=env)
    assert made.returncode == 0, made.stderr
    stream_id = int(made.stdout.split()[1])
    push_keys.append(stream_id)
    token = made.stdout.split("push token (shown once): ")[1].strip()

    records = tmp_path / "records.ndjson"
    records.write_text('{"x": 1, "y": 2}\n{"x": 3, "y": 4}\n')
    pushed = _cli("streams", "push", stream_id, records, env={**env, "PYNOMALY_PUSH_TOKEN": token})
    assert pushed.returncode == 0, pushed.stderr
    assert "2 records accepted" in pushed.stdout
    assert push.redis_client().xlen(push.push_key(stream_id)) == 2

    no_token = _cli("streams", "push", stream_id, records, env=env)
    assert no_token.returncode != 0 and "PYNOMALY_PUSH_TOKEN" in no_token.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    refused = _cli("streams", "push", stream_id, bad, env={**env, "PYNOMALY_PUSH_TOKEN": token})
    assert refused.returncode != 0 and "JSON object" in refused.stderr

    listed = _cli("streams", "list", env=env)
    assert listed.returncode == 0 and "cli push" in listed.stdout and "active" in listed.stdout
    assert _cli("streams", "pause", stream_id, env=env).returncode == 0
    assert Stream.objects.get(pk=stream_id).status == "paused"
    assert _cli("streams", "resume", stream_id, env=env).returncode == 0

    stream = Stream.objects.get(pk=stream_id)
    _anomaly(stream, "before", 0.5)
    shown = _cli("streams", "anomalies", stream_id, env=env)
    assert shown.returncode == 0 and "before" in shown.stdout

    tail = subprocess.Popen(
        [sys.executable, "-m", "pynomaly", "streams", "tail", str(stream_id), "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "before" in tail.stdout.readline()  # the backlog first
        _anomaly(stream, "live-one", 0.97)
        assert "live-one" in tail.stdout.readline()  # then what is stored while it follows
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=30) == 0

    missing = _cli("streams", "tail", 999999, env=env)
    assert missing.returncode != 0 and "999999" in missing.stderr
    assert _cli("streams", "delete", stream_id, env=env).returncode == 0
    assert not Stream.objects.filter(pk=stream_id).exists()
