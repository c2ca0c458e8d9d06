"""The MQTT adapter against the machine's Mosquitto and private ones we restart."""

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

from apps.streams.sources import mqtt
from apps.streams.sources.errors import SourceConfigError, SourceUnavailable
from tests.brokers import SHARED_MQTT, Mosquitto, drain, running, unique
from tests.brokers import private_mosquitto as private_mosquitto  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

NAMES = ("p1", "p2", "doomed")


def _records(start: int, stop: int) -> list[bytes]:
    return [json.dumps({"id": f"r{i}", "x": i}).encode() for i in range(start, stop)]


@pytest.fixture
def topic_config():
    """A topic and group of the test's own on the shared Mosquitto; its sessions dropped after."""
    host, port = SHARED_MQTT
    name = unique("pyn")
    config = {"host": host, "port": port, "topic": f"{name}/in", "qos": 1, "group": name}
    yield config
    for consumer_name in NAMES:
        mqtt.end_session(config, "", consumer_name)


def _consumer(config: dict, name: str = "p1") -> mqtt.MqttConsumer:
    return mqtt.MqttConsumer(mqtt.check_config(config), "", consumer_name=name)


def test_it_polls_every_record_published(topic_config):
    consumer = _consumer(topic_config)
    try:
        assert mqtt.produce(topic_config, "", _records(0, 300)) == 300
        got = drain(consumer, 300)
        consumer.commit(got)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in got) == list(range(300))
    assert len({m.coordinates for m in got}) == 300
    assert all(m.coordinates.startswith(topic_config["topic"] + "/") for m in got)


def test_what_is_not_committed_comes_back_and_what_is_committed_does_not(topic_config):
    first = _consumer(topic_config)
    mqtt.produce(topic_config, "", _records(0, 10))
    got = drain(first, 10)
    first.commit(got[:6])
    first.close()

    second = _consumer(topic_config)
    again = drain(second, 4)
    assert sorted(m.coordinates for m in again) == sorted(m.coordinates for m in got[6:])
    second.commit(again)
    second.close()

    mqtt.produce(topic_config, "", [b'{"id": "marker"}'])
    third = _consumer(topic_config)
    try:
        (only,) = drain(third, 1)
        third.commit([only])
        assert third.poll(10, 1.0) == []
    finally:
        third.close()
    assert json.loads(only.payload) == {"id": "marker"}


KILLED_READER = """
import sys
from apps.streams.sources import mqtt
c = mqtt.MqttConsumer(mqtt.check_config({config!r}), "", consumer_name="doomed")
print("subscribed", flush=True)
sys.stdin.readline()
got = []
while len(got) < 5:
    got += c.poll(5 - len(got), 1.0)
print("polled", len(got), flush=True)
sys.stdin.read()  # until killed
"""


def test_what_a_killed_reader_held_comes_back_when_it_restarts(topic_config):
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_READER.format(config=topic_config))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings"},
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        assert reader.stdout.readline().strip() == b"subscribed"
        mqtt.produce(topic_config, "", _records(0, 5))
        reader.stdin.write(b"go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == b"polled 5"
    finally:
        reader.send_signal(signal.SIGKILL)
        reader.wait(10)
    restarted = _consumer(topic_config, "doomed")
    try:
        got = drain(restarted, 5, timeout=30)
        restarted.commit(got)
    finally:
        restarted.close()
    assert sorted(json.loads(m.payload)["x"] for m in got) == [0, 1, 2, 3, 4]


def test_two_processors_share_the_subscription(topic_config):
    one, two = _consumer(topic_config, "p1"), _consumer(topic_config, "p2")
    try:
        mqtt.produce(topic_config, "", _records(0, 200))
        a: list = []
        b: list = []
        deadline = time.monotonic() + 60
        while len(a) + len(b) < 200 and time.monotonic() < deadline:
            a += one.poll(200, 0.2)
            b += two.poll(200, 0.2)
        one.commit(a)
        two.commit(b)
    finally:
        one.close()
        two.close()
    xs = [json.loads(m.payload)["x"] for m in a + b]
    assert sorted(xs) == list(range(200))  # each exactly once
    assert a and b


def test_a_busy_processor_holds_one_batch_and_the_rest_waits_on_the_broker(topic_config):
    consumer = _consumer(topic_config)
    try:
        mqtt.produce(topic_config, "", _records(0, 600))
        time.sleep(0.5)  # let the broker push what it will into the socket
        batch = consumer.poll(100, 5.0)
        assert len(batch) == 100
        assert consumer._buffer == []  # nothing read beyond the batch
        rest = drain(consumer, 500)
        consumer.commit(batch + rest)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in batch + rest) == list(range(600))
    assert consumer.lag() is None


def test_it_reconnects_after_the_broker_restarts_and_gets_the_unacked_again(private_mosquitto):
    config = {
        "host": "127.0.0.1",
        "port": private_mosquitto.port,
        "topic": "plant/in",
        "group": "g",
    }
    consumer = _consumer(config)
    try:
        mqtt.produce(config, "", _records(0, 5))
        got = drain(consumer, 5)
        consumer.commit(got[:3])
        time.sleep(0.3)  # the acks reach the broker before it goes
        private_mosquitto.restart()
        again = drain(consumer, 2, timeout=60)  # the session survived: the unacked come back
        mqtt.produce(config, "", _records(100, 103))
        after = drain(consumer, 3)
        consumer.commit(again + after)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in again) == [3, 4]
    assert sorted(json.loads(m.payload)["x"] for m in after) == [100, 101, 102]


def test_a_plain_subscription_gets_what_was_published_while_the_broker_restarted(
    private_mosquitto,
):
    """Mosquitto 2.0 drops this for a shared subscription (why ``shared`` can be turned off)."""
    config = {
        "host": "127.0.0.1",
        "port": private_mosquitto.port,
        "topic": "plant/in",
        "group": "g",
        "shared": False,
    }
    consumer = _consumer(config)
    try:
        private_mosquitto.restart()
        mqtt.produce(config, "", _records(0, 3))
        got = drain(consumer, 3, timeout=60)
        consumer.commit(got)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in got) == [0, 1, 2]


def test_it_logs_in_with_the_secret_and_never_shows_it(caplog):
    caplog.set_level(logging.DEBUG)

    class AuthMosquitto(Mosquitto):
        def command(self) -> list[str]:
            cmd = super().command()
            passwords = self.workdir / "passwd"
            subprocess.run(
                ["mosquitto_passwd", "-b", "-c", str(passwords), "reader", "pw-3c4d5e"],
                check=True,
                capture_output=True,
            )
            passwords.chmod(0o644)  # Mosquitto reads it as the mosquitto user
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(
                conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
                + f"password_file {passwords}\n"
            )
            return cmd

    with running(AuthMosquitto) as server:
        config = {
            "host": "127.0.0.1",
            "port": server.port,
            "topic": "a/in",
            "group": "g",
            "username": "reader",
        }
        consumer = mqtt.MqttConsumer(mqtt.check_config(config), "pw-3c4d5e", consumer_name="p")
        try:
            mqtt.produce(config, "pw-3c4d5e", _records(0, 3))
            assert len(drain(consumer, 3)) == 3
            assert "pw-3c4d5e" not in repr(consumer)
        finally:
            consumer.close()
        with pytest.raises(SourceUnavailable, match="refused") as refused:
            mqtt.MqttConsumer(mqtt.check_config(config), "pw-wrong-1111", consumer_name="p")
    assert "pw-wrong-1111" not in str(refused.value)
    assert "pw-3c4d5e" not in caplog.text and "pw-wrong-1111" not in caplog.text


def test_tls_and_credentials_reach_the_client():
    settings = mqtt.check_config(
        {
            "host": "broker.example",
            "topic": "plant/+/temp",
            "tls": True,
            "username": "reader",
            "group": "g",
        }
    )
    assert settings.port == 8883
    client = mqtt.build_client(settings, "pw-77", client_id="pynomaly-g-p")
    assert client._ssl is True and client._ssl_context is not None
    assert client._username == b"reader" and client._password == b"pw-77"
    assert settings.subscription == "$share/g/plant/+/temp"


def test_qos_2_is_subscribed_as_qos_1():
    settings = mqtt.check_config({"host": "h", "topic": "t", "qos": 2, "group": "g"})
    assert settings.qos == 2 and settings.subscribe_qos == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"topic": "t"}, "Host is required."),
        ({"host": "h"}, "Topic filter is required."),
        ({"host": "h", "topic": "$share/g/t"}, "without \\$share"),
        ({"host": "h", "topic": "a/#/b"}, "# only for the last"),
        ({"host": "h", "topic": "a+/b"}, "\\+ stands for a whole level"),
        ({"host": "h", "topic": "t", "qos": 3, "group": "g"}, "QoS must be"),
        ({"host": "h", "topic": "t", "port": 0, "group": "g"}, "Port must be"),
        ({"host": "h", "topic": "t", "tls": "yes", "group": "g"}, "TLS must be"),
        ({"host": "h", "topic": "t", "shared": 1, "group": "g"}, "Shared must be"),
        ({"host": "h", "topic": "t"}, "Group must be"),
        ({"host": "h", "topic": "t", "group": "a/b"}, "Group must be"),
    ],
)
def test_it_says_what_to_fix_in_a_bad_config(config, message):
    with pytest.raises(SourceConfigError, match=message):
        mqtt.check_config(config)


@pytest.mark.django_db
def test_it_opens_from_a_stored_stream(tenant_a):
    from apps.streams.models import Stream

    host, port = SHARED_MQTT
    config = {"host": host, "port": port, "topic": unique("pyn") + "/in"}
    stream = Stream.objects.create(
        tenant=tenant_a,
        name="plant",
        kind=Stream.Kind.MQTT,
        learner=Stream.Learner.HALF_SPACE_TREES,
        config=config,
    )
    consumer = mqtt.MqttConsumer.from_stream(stream, "host-1")
    try:
        assert consumer.settings.group == f"pynomaly-stream-{stream.pk}"
        assert consumer.client_id == f"pynomaly-pynomaly-stream-{stream.pk}-host-1"
        mqtt.produce(config, "", [b'{"id": "a"}'])
        (message,) = drain(consumer, 1)
        consumer.commit([message])
    finally:
        consumer.close()
        mqtt.end_session(config | {"group": consumer.settings.group}, "", "host-1")
    assert message.payload == b'{"id": "a"}'
