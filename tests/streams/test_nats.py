"""The NATS JetStream adapter against the machine's NATS server and private ones we restart."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from apps.streams.sources import nats as nats_source
from apps.streams.sources.errors import SourceConfigError, SourceUnavailable
from tests.brokers import SHARED_NATS, NatsServer, drain, running, unique, wait_for
from tests.brokers import private_nats as private_nats  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def _records(start: int, stop: int) -> list[bytes]:
    return [json.dumps({"id": f"r{i}", "x": i}).encode() for i in range(start, stop)]


@pytest.fixture
def jetstream():
    """A JetStream stream of the test's own on the shared server, removed afterwards."""
    name = unique("PYNT").replace("-", "_")
    config = {"servers": SHARED_NATS, "stream": name, "subject": f"{name}.in", "durable": "proc"}
    yield config
    nats_source.delete_stream(config)


def _consumer(config: dict, name: str = "p1") -> nats_source.NatsConsumer:
    return nats_source.NatsConsumer(nats_source.check_config(config), "", consumer_name=name)


def test_it_polls_every_record_published_with_its_stream_sequence(jetstream):
    assert nats_source.produce(jetstream, "", _records(0, 300), create_stream=True) == 300
    consumer = _consumer(jetstream)
    try:
        got = drain(consumer, 300, batch=128)
    finally:
        consumer.close()
    assert [json.loads(m.payload)["x"] for m in got] == list(range(300))
    assert [m.coordinates for m in got] == [f"{jetstream['stream']}/{i}" for i in range(1, 301)]
    assert all(abs(m.received_at - time.time()) < 300 for m in got)


def test_what_is_not_committed_comes_back_and_what_is_committed_does_not(jetstream):
    nats_source.produce(jetstream, "", _records(0, 10), create_stream=True)
    first = _consumer(jetstream)
    got = drain(first, 10)
    first.commit(got[:6])
    first.close()

    second = _consumer(jetstream)
    again = drain(second, 4)
    assert sorted(m.coordinates for m in again) == sorted(m.coordinates for m in got[6:])
    second.commit(again)
    second.close()

    nats_source.produce(jetstream, "", [b'{"id": "marker"}'])
    third = _consumer(jetstream)
    try:
        (only,) = drain(third, 1)
        assert third.poll(10, 1.0) == []
    finally:
        third.close()
    assert json.loads(only.payload) == {"id": "marker"}
    assert only.coordinates == f"{jetstream['stream']}/11"


KILLED_READER = """
import sys
from apps.streams.sources import nats as n
c = n.NatsConsumer(n.check_config({config!r}), "", consumer_name="doomed")
got = []
while len(got) < 5:
    got += c.poll(5 - len(got), 1.0)
print("polled", len(got), flush=True)
sys.stdin.read()  # until killed
"""


def test_what_a_killed_reader_held_comes_back_after_the_ack_wait(jetstream):
    config = {**jetstream, "ack_wait": 2}
    nats_source.produce(config, "", _records(0, 5), create_stream=True)
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_READER.format(config=config))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings"},
    )
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == b"polled 5"
    finally:
        reader.send_signal(signal.SIGKILL)
        reader.wait(10)
    consumer = _consumer(config)
    try:
        got = drain(consumer, 5, timeout=30)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in got) == [0, 1, 2, 3, 4]


def test_it_reports_the_messages_not_yet_delivered(jetstream):
    nats_source.produce(jetstream, "", _records(0, 50), create_stream=True)
    consumer = _consumer(jetstream)
    try:
        assert consumer.lag() == 50
        consumer.commit(drain(consumer, 20, batch=20))
        assert consumer.lag() == 30
        drain(consumer, 30)
        assert consumer.lag() == 0
    finally:
        consumer.close()


def test_two_readers_of_one_durable_share_the_messages(jetstream):
    nats_source.produce(jetstream, "", _records(0, 200), create_stream=True)
    one, two = _consumer(jetstream, "p1"), _consumer(jetstream, "p2")
    try:
        a = one.poll(120, 5.0)
        b = drain(two, 200 - len(a))
        one.commit(a)
        two.commit(b)
    finally:
        one.close()
        two.close()
    assert sorted(json.loads(m.payload)["x"] for m in a + b) == list(range(200))
    assert len(a) > 0 and len(b) > 0


def test_it_reconnects_after_the_server_restarts(private_nats):
    config = {"servers": private_nats.url, "stream": "PRIV", "subject": "priv.in", "durable": "p"}
    nats_source.produce(config, "", _records(0, 5), create_stream=True)
    consumer = _consumer(config)
    try:
        consumer.commit(drain(consumer, 5))
        private_nats.stop()
        assert consumer.poll(10, 1.0) == []  # no exception while the server is away
        assert consumer.lag() is None
        private_nats.start()
        nats_source.produce(config, "", _records(100, 105))
        got = drain(consumer, 5, timeout=60)
        consumer.commit(got)
        wait_for(lambda: consumer.lag() == 0, 15, "lag 0 after the restart")
    finally:
        consumer.close()
    assert [json.loads(m.payload)["x"] for m in got] == list(range(100, 105))


def test_it_logs_in_with_the_secret_and_never_shows_it(caplog):
    caplog.set_level(logging.DEBUG)

    class AuthNats(NatsServer):
        def command(self) -> list[str]:
            return [*super().command(), "--user", "reader", "--pass", "pw-5e6f7a"]

    with running(AuthNats) as server:
        config = {
            "servers": server.url,
            "stream": "AUTH",
            "subject": "auth.in",
            "durable": "p",
            "username": "reader",
        }
        nats_source.produce(config, "pw-5e6f7a", _records(0, 3), create_stream=True)
        consumer = _consumer_with(config, "pw-5e6f7a")
        try:
            assert len(drain(consumer, 3)) == 3
            assert "pw-5e6f7a" not in repr(consumer)
        finally:
            consumer.close()
        # the server answers -ERR 'Authorization Violation' and closes; under load the
        # client may see the closed connection first
        refused_how = "Authorization Violation|Connection reset by peer"
        with pytest.raises(SourceUnavailable, match=refused_how) as refused:
            _consumer_with(config, "pw-wrong-0000")
    assert "pw-wrong-0000" not in str(refused.value)
    assert "pw-5e6f7a" not in caplog.text and "pw-wrong-0000" not in caplog.text


def _consumer_with(config: dict, secret: str) -> nats_source.NatsConsumer:
    return nats_source.NatsConsumer(nats_source.check_config(config), secret, consumer_name="p")


def test_a_missing_jetstream_stream_is_a_config_error_saying_so(jetstream):
    with pytest.raises(SourceConfigError, match="no JetStream stream"):
        _consumer(jetstream)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"stream": "S", "subject": "s", "durable": "d"}, "Servers are required"),
        (
            {"servers": "127.0.0.1:4222", "stream": "S", "subject": "s", "durable": "d"},
            "must be a URL",
        ),
        (
            {"servers": "nats://h:4222", "subject": "s", "durable": "d"},
            "JetStream stream is required",
        ),
        ({"servers": "nats://h:4222", "stream": "S", "durable": "d"}, "Subject is required"),
        ({"servers": "nats://h:4222", "stream": "S", "subject": "s"}, "Durable consumer name"),
        (
            {"servers": "nats://h:4222", "stream": "S", "subject": "s", "durable": "a.b"},
            "cannot hold",
        ),
        (
            {
                "servers": "nats://h:4222",
                "stream": "S",
                "subject": "s",
                "durable": "d",
                "ack_wait": 0,
            },
            "Ack wait",
        ),
    ],
)
def test_it_says_what_to_fix_in_a_bad_config(config, message):
    with pytest.raises(SourceConfigError, match=message):
        nats_source.check_config(config)


@pytest.mark.django_db
def test_it_opens_from_a_stored_stream(tenant_a, jetstream):
    from apps.streams.models import Stream

    config = {k: v for k, v in jetstream.items() if k != "durable"}
    nats_source.produce(config, "", [b'{"id": "a"}'], create_stream=True)
    stream = Stream.objects.create(
        tenant=tenant_a,
        name="plant",
        kind=Stream.Kind.NATS,
        learner=Stream.Learner.HALF_SPACE_TREES,
        config=config,
    )
    consumer = nats_source.NatsConsumer.from_stream(stream, "host:7")
    try:
        assert consumer.settings.durable == f"pynomaly-stream-{stream.pk}"
        (message,) = drain(consumer, 1)
    finally:
        consumer.close()
    assert message.payload == b'{"id": "a"}'
