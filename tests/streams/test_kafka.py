"""The Kafka adapter against a real Kafka-protocol broker (tansu, started by tests.brokers)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from apps.streams.sources import kafka
from apps.streams.sources.errors import SourceConfigError
from tests.brokers import Tansu, drain, running, unique, wait_for
from tests.brokers import private_tansu as private_tansu  # noqa: F401 (fixture)
from tests.brokers import tansu as tansu  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def _config(broker: Tansu, topic: str, group: str | None = None) -> dict:
    return {"bootstrap_servers": broker.bootstrap, "topic": topic, "group": group or unique("g")}


def _consumer(config: dict, name: str = "p1") -> kafka.KafkaConsumer:
    return kafka.KafkaConsumer(kafka.check_config(config), "", consumer_name=name)


def _records(start: int, stop: int) -> list[bytes]:
    return [json.dumps({"id": f"r{i}", "x": i}).encode() for i in range(start, stop)]


def test_it_polls_every_record_produced_with_its_coordinates(tansu):
    topic = unique("t")
    tansu.create_topic(topic, partitions=2)
    config = _config(tansu, topic)
    assert kafka.produce(config, "", _records(0, 300)) == 300
    consumer = _consumer(config)
    try:
        got = drain(consumer, 300)
    finally:
        consumer.close()
    assert sorted(json.loads(m.payload)["x"] for m in got) == list(range(300))
    coordinates = {m.coordinates for m in got}
    assert len(coordinates) == 300
    assert {c.rsplit("/", 2)[0] for c in coordinates} == {topic}
    assert {c.rsplit("/", 2)[1] for c in coordinates} == {"0", "1"}
    assert all(abs(m.received_at - time.time()) < 300 for m in got)


def test_what_is_not_committed_comes_back_and_what_is_committed_does_not(tansu):
    topic = unique("t")
    tansu.create_topic(topic, partitions=1)
    config = _config(tansu, topic)
    kafka.produce(config, "", _records(0, 10))

    first = _consumer(config)
    got = drain(first, 10)
    first.commit(got[:6])  # the processor stored six, then died
    first.close()

    second = _consumer(config)
    again = drain(second, 4)
    assert [m.coordinates for m in again] == [m.coordinates for m in got[6:]]
    assert [m.payload for m in again] == [m.payload for m in got[6:]]
    second.commit(again)
    second.close()

    kafka.produce(config, "", [b'{"id": "marker"}'])
    third = _consumer(config)
    try:
        (only,) = drain(third, 1)
    finally:
        third.close()
    assert json.loads(only.payload) == {"id": "marker"}
    assert only.coordinates == f"{topic}/0/10"


def test_it_reports_the_records_waiting_behind_its_position(tansu):
    topic = unique("t")
    tansu.create_topic(topic, partitions=1)
    config = _config(tansu, topic)
    kafka.produce(config, "", _records(0, 50))
    consumer = _consumer(config)
    try:
        drain(consumer, 20, batch=20)
        wait_for(lambda: consumer.lag() == 30, 15, "lag 30 after reading 20 of 50")
        drain(consumer, 30)
        wait_for(lambda: consumer.lag() == 0, 15, "lag 0 after reading all 50")
    finally:
        consumer.close()


def test_it_reconnects_after_the_broker_restarts(private_tansu):
    broker = private_tansu
    topic = unique("t")
    broker.create_topic(topic, partitions=1)
    config = _config(broker, topic)
    kafka.produce(config, "", _records(0, 5))
    consumer = _consumer(config)
    try:
        consumer.commit(drain(consumer, 5))
        broker.stop()
        assert consumer.poll(100, 2.0) == []  # no exception while the broker is away
        assert consumer.lag() is None or consumer.lag() >= 0
        broker.start()
        # tansu keeps nothing across a restart (in-memory storage): the topic comes back empty.
        broker.create_topic(topic, partitions=1)
        kafka.produce(config, "", _records(100, 105))
        got = drain(consumer, 5, timeout=90)
        consumer.commit(got)
    finally:
        consumer.close()
    assert [json.loads(m.payload)["x"] for m in got] == list(range(100, 105))


def test_a_new_member_gets_its_partitions_in_seconds_not_half_a_minute(tansu):
    """librdkafka's 45 s session timeout made tansu wait 23 s for the join (PITFALLS.md)."""
    topic = unique("t")
    tansu.create_topic(topic, partitions=1)
    config = _config(tansu, topic)
    kafka.produce(config, "", _records(0, 1))
    consumer = _consumer(config)
    try:
        started = time.monotonic()
        drain(consumer, 1, timeout=30)
        # the tuned session timeout (6 s) makes tansu wait 3 s; 15 s leaves room for a loaded
        # machine and still fails on the 23 s of the default.
        assert time.monotonic() - started < 15
    finally:
        consumer.close()


def test_the_sasl_settings_and_secret_reach_the_client_and_nowhere_else():
    settings = kafka.check_config(
        {
            "bootstrap_servers": "k1:9093,k2:9093",
            "topic": "sensors",
            "group": "plant",
            "security_protocol": "sasl_ssl",
            "sasl_mechanism": "scram-sha-512",
            "username": "reader",
        },
        has_secret=True,
    )
    conf = kafka.consumer_client_config(settings, "pw-1f2e3d", client_id="host:1")
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "reader"
    assert conf["sasl.password"] == "pw-1f2e3d"
    assert conf["ssl.ca.location"] == "probe"
    assert conf["enable.auto.commit"] is False
    assert kafka.producer_client_config(settings, "pw-1f2e3d")["sasl.password"] == "pw-1f2e3d"
    consumer = kafka.KafkaConsumer(settings, "pw-1f2e3d", consumer_name="host:1")
    try:
        assert "pw-1f2e3d" not in repr(consumer)
        assert "pw-1f2e3d" not in repr(consumer.settings)
    finally:
        consumer.close()


def test_a_wrong_login_is_reported_without_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    with running(Tansu, authentication=True) as broker:
        config = {
            **_config(broker, unique("t")),
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "username": "nobody",
        }
        consumer = kafka.KafkaConsumer(kafka.check_config(config), "pw-9a8b7c", consumer_name="p1")
        try:

            def refused() -> bool:
                consumer.poll(10, 0.5)
                return "SASL" in (consumer.problem or "")

            wait_for(refused, 30, "the broker's SASL refusal reported")
        finally:
            consumer.close()
    assert "unknown-user" in consumer.problem or "authentication" in consumer.problem.lower()
    assert "pw-9a8b7c" not in caplog.text
    assert "pw-9a8b7c" not in consumer.problem


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"topic": "t", "group": "g"}, "Bootstrap servers is required."),
        ({"bootstrap_servers": "kafka", "topic": "t", "group": "g"}, "must be host:port"),
        ({"bootstrap_servers": "k:9092", "group": "g"}, "Topic is required."),
        ({"bootstrap_servers": "k:9092", "topic": "t"}, "Consumer group is required."),
        (
            {"bootstrap_servers": "k:9092", "topic": "t", "group": "g", "security_protocol": "TLS"},
            "Security protocol must be one of",
        ),
        (
            {
                "bootstrap_servers": "k:9092",
                "topic": "t",
                "group": "g",
                "security_protocol": "SASL_SSL",
            },
            "SASL_SSL needs a user name.",
        ),
        (
            {
                "bootstrap_servers": "k:9092",
                "topic": "t",
                "group": "g",
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "GSSAPI",
                "username": "u",
            },
            "SASL mechanism must be one of",
        ),
        (
            {"bootstrap_servers": "k:9092", "topic": "t", "group": "g", "username": "u"},
            "needs security protocol SASL_PLAINTEXT or SASL_SSL",
        ),
    ],
)
def test_it_says_what_to_fix_in_a_bad_config(config, message):
    with pytest.raises(SourceConfigError, match=message):
        kafka.check_config(config)


def test_sasl_without_a_password_is_refused_when_none_is_stored():
    config = {
        "bootstrap_servers": "k:9092",
        "topic": "t",
        "group": "g",
        "security_protocol": "SASL_PLAINTEXT",
        "username": "u",
    }
    with pytest.raises(SourceConfigError, match="needs a password"):
        kafka.check_config(config, has_secret=False)


@pytest.mark.django_db
def test_it_opens_from_a_stored_stream_with_its_decrypted_secret(tenant_a, tansu):
    from apps.common import secrets
    from apps.streams.models import Stream

    topic = unique("t")
    tansu.create_topic(topic, partitions=1)
    stream = Stream.objects.create(
        tenant=tenant_a,
        name="plant",
        kind=Stream.Kind.KAFKA,
        learner=Stream.Learner.HALF_SPACE_TREES,
        config={"bootstrap_servers": tansu.bootstrap, "topic": topic},
        secret_encrypted=secrets.encrypt("pw-unused-on-plaintext"),
    )
    kafka.produce(stream.config | {"group": "-"}, "", [b'{"id": "a"}'])
    consumer = kafka.KafkaConsumer.from_stream(stream, "host:7")
    try:
        assert consumer.settings.group == f"pynomaly-stream-{stream.pk}"
        (message,) = drain(consumer, 1)
    finally:
        consumer.close()
    assert message.payload == b'{"id": "a"}'
    assert "pw-unused" not in repr(consumer)
