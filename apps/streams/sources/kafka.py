"""Kafka through confluent-kafka (librdkafka): a consumer group member that commits by hand.

Offsets are never committed automatically (``enable.auto.commit`` off): :meth:`commit` stores,
per partition, the offset after the last message the processor has stored, synchronously, so
a processor killed before it returns gets those messages again from its group (at-least-once;
the event id makes the second storing a no-op).

librdkafka reconnects by itself when a broker goes away (``reconnect.backoff.ms`` doubling up
to ``reconnect.backoff.max.ms``) and the group member rejoins; :meth:`poll` simply returns
nothing meanwhile. A commit that meets a broker that is away is retried with a backoff for
``COMMIT_PATIENCE`` seconds and then raises :class:`SourceUnavailable` (the processor reopens
us; what was not committed comes back).

The group join: a Kafka coordinator waits for the group's members before it hands out
partitions. tansu (the test broker) waits half the member's session timeout — 23 s with
librdkafka's 45 s default, 3 s with the 6 s used here (the smallest a stock Kafka broker
accepts, ``group.min.session.timeout.ms``); a stock Kafka broker waits
``group.initial.rebalance.delay.ms`` (3 s) for a new group. A shorter session also means a
killed processor's partitions move to a live one sooner.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Consumer as _RdKafkaConsumer

from apps.streams.sources.base import Message
from apps.streams.sources.errors import (
    SourceConfigError,
    SourceUnavailable,
    optional_str,
    require_str,
)

log = logging.getLogger(__name__)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000
RECONNECT_BACKOFF_MAX_MS = 10_000
# The prefetch queue librdkafka fills for us, whatever the number of partitions: a slow
# processor holds at most this much in memory; the rest stays on the broker.
PREFETCH_KBYTES = 32_768
# How long the broker may hold a fetch that has nothing new. librdkafka's 500 ms default set the
# latency floor: produce -> anomaly stored at 5,000 records/s on tansu was p50 159 ms, p99 287 ms;
# with 20 ms, p50 14-16 ms, p99 30-85 ms in two runs (make bench BENCH_ARGS="--streams-only
# --streams-parts latency", idle 2-core machine). An idle consumer then asks 50 times a second.
FETCH_WAIT_MAX_MS = 20
COMMIT_PATIENCE = 30.0

# A commit refused because our partitions moved to another member: they will be read again
# from the last committed offset by their new owner — what at-least-once allows.
_REASSIGNED = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
}

_TRANSIENT = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._WAIT_COORD,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}


class _OncePer(logging.Filter):
    """Lets a librdkafka log line through once per ``seconds`` (numbers ignored).

    While a broker is away librdkafka logs every reconnect attempt ("Connect to … failed:
    Connection refused (after 0ms …)"), several a second; one line per half-minute says it.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.seconds:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


_librdkafka_log = logging.getLogger(f"{__name__}.librdkafka")
_librdkafka_log.addFilter(_OncePer(30.0))


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """A stream's Kafka config, checked (never the password)."""

    bootstrap_servers: str
    topic: str
    group: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    username: str = ""
    ssl_ca_location: str = ""

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")


def check_config(
    config: dict, *, default_group: str = "", has_secret: bool | None = None
) -> KafkaSettings:
    """The settings in ``config``, or a :class:`SourceConfigError` saying what to fix.

    ``has_secret`` False (a form without a password and none stored) refuses SASL settings;
    None skips that check.
    """
    if not isinstance(config, dict):
        raise SourceConfigError("The Kafka settings must be an object.")
    servers = require_str(config, "bootstrap_servers", "Bootstrap servers")
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SourceConfigError(
                f"Bootstrap server {server.strip()!r} must be host:port (e.g. kafka:9092)."
            )
    topic = require_str(config, "topic", "Topic")
    group = optional_str(config, "group", "Consumer group") or default_group
    if not group:
        raise SourceConfigError("Consumer group is required.")
    protocol = (
        optional_str(config, "security_protocol", "Security protocol") or "PLAINTEXT"
    ).upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise SourceConfigError(
            f"Security protocol must be one of {', '.join(SECURITY_PROTOCOLS)}."
        )
    mechanism = optional_str(config, "sasl_mechanism", "SASL mechanism").upper()
    username = optional_str(config, "username", "User name")
    if protocol.startswith("SASL"):
        mechanism = mechanism or "PLAIN"
        if mechanism not in SASL_MECHANISMS:
            raise SourceConfigError(f"SASL mechanism must be one of {', '.join(SASL_MECHANISMS)}.")
        if not username:
            raise SourceConfigError(f"{protocol} needs a user name.")
        if has_secret is False:
            raise SourceConfigError(f"{protocol} needs a password.")
    elif mechanism or username:
        raise SourceConfigError(
            "A SASL mechanism or user name needs security protocol SASL_PLAINTEXT or SASL_SSL."
        )
    return KafkaSettings(
        bootstrap_servers=servers,
        topic=topic,
        group=group,
        security_protocol=protocol,
        sasl_mechanism=mechanism if protocol.startswith("SASL") else "",
        username=username,
        ssl_ca_location=optional_str(config, "ssl_ca_location", "CA certificate location"),
    )


def _security(settings: KafkaSettings, secret: str) -> dict[str, Any]:
    conf: dict[str, Any] = {"security.protocol": settings.security_protocol}
    if settings.uses_tls:
        # "probe": the system's CA bundle, found wherever this OpenSSL build looks for it.
        conf["ssl.ca.location"] = settings.ssl_ca_location or "probe"
    if settings.uses_sasl:
        conf["sasl.mechanism"] = settings.sasl_mechanism
        conf["sasl.username"] = settings.username
        conf["sasl.password"] = secret
    return conf


def consumer_client_config(
    settings: KafkaSettings, secret: str, *, client_id: str
) -> dict[str, Any]:
    """The librdkafka settings of a stream's consumer (holds the secret: never log it)."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # A new group starts at the oldest record kept: nothing produced before the first
        # processor joined is skipped.
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        "queued.max.messages.kbytes": PREFETCH_KBYTES,
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        **_security(settings, secret),
    }


def producer_client_config(settings: KafkaSettings, secret: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "linger.ms": 5,
        "acks": "all",
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        **_security(settings, secret),
    }


class KafkaConsumer:
    """One member of the stream's consumer group (see the module's docstring)."""

    # Served by the processor's reader thread (processor.Prefetch), which makes every call
    # on the consumer — poll, commit, lag — itself: confluent-kafka lets one call in at a
    # time, and a commit from the processor's loop while that thread polled never got in.
    prefetch = True

    def __init__(self, settings: KafkaSettings, secret: str, *, consumer_name: str) -> None:
        self.settings = settings
        self.consumer_name = consumer_name
        self.problem: str | None = None  # the latest broker error, cleared when records flow
        self._logged: dict[int, float] = {}
        conf = consumer_client_config(settings, secret, client_id=consumer_name)
        conf["error_cb"] = self._on_error
        conf["logger"] = _librdkafka_log
        self._consumer = _RdKafkaConsumer(conf)
        self._consumer.subscribe([settings.topic])
        self._closed = False

    @classmethod
    def from_stream(cls, stream: Any, consumer_name: str) -> KafkaConsumer:
        from apps.common import secrets

        settings = check_config(stream.config, default_group=f"pynomaly-stream-{stream.pk}")
        return cls(settings, secrets.decrypt(stream.secret_encrypted), consumer_name=consumer_name)

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"<KafkaConsumer {s.bootstrap_servers} topic={s.topic} group={s.group} "
            f"{s.security_protocol} name={self.consumer_name}>"
        )

    # librdkafka reports a broker that went away every few hundred ms while it retries: log
    # each kind of error at most every 30 s.
    def _on_error(self, err: KafkaError) -> None:
        self.problem = err.str()
        now = time.monotonic()
        if now - self._logged.get(err.code(), -1e9) >= 30.0:
            self._logged[err.code()] = now
            log.warning("Kafka %s (%s): %s", self.settings.topic, self.consumer_name, err.str())

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        # The contract: wait at most ``timeout`` for the *first* message, then take what is
        # already fetched. consume(n, timeout) alone waits until n arrived or the timeout
        # passed: at 5,000 records/s a 5,000-record batch waited ~1 s for itself to fill
        # (measured, produce -> anomaly stored at 5,000 records/s, load 15-18: p50 819 ms,
        # p99 1,500 ms before; 206 / 412 ms with this).
        try:
            first = self._consumer.poll(timeout)
            raw = [] if first is None else [first]
            if first is not None and max_messages > 1:
                raw += self._consumer.consume(num_messages=max_messages - 1, timeout=0)
        except KafkaException as exc:
            raise SourceUnavailable(f"Kafka: {exc.args[0].str()}") from None
        now = time.time()
        out: list[Message] = []
        for m in raw:
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise SourceUnavailable(f"Kafka: {err.str()}")
                self._on_error(err)
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            ts_type, ts = m.timestamp()
            out.append(
                Message(
                    payload=m.value() or b"",
                    coordinates=f"{topic}/{partition}/{offset}",
                    received_at=ts / 1000.0
                    if ts_type != TIMESTAMP_NOT_AVAILABLE and ts > 0
                    else now,
                    token=(topic, partition, offset),
                )
            )
        if out:
            self.problem = None
        return out

    def commit(self, messages: list[Message]) -> None:
        """Commit, per partition, the offset after the last of ``messages`` (synchronously)."""
        last: dict[tuple[str, int], int] = {}
        for message in messages:
            topic, partition, offset = message.token
            if offset >= last.get((topic, partition), -1):
                last[(topic, partition)] = offset
        if not last:
            return
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        deadline = time.monotonic() + COMMIT_PATIENCE
        delay = 0.2
        while True:
            try:
                result = self._consumer.commit(offsets=offsets, asynchronous=False)
                errors = [tp.error for tp in result or [] if tp.error is not None]
                if not errors:
                    return
                err = errors[0]
            except KafkaException as exc:
                err = exc.args[0]
            if err.code() in _REASSIGNED:
                log.info(
                    "Kafka %s: partitions moved to another member before the commit (%s); "
                    "their new owner reads them again.",
                    self.settings.topic,
                    err.str(),
                )
                return
            transient = err.retriable() or err.code() in _TRANSIENT
            if not transient or time.monotonic() > deadline:
                raise SourceUnavailable(f"Kafka did not take the offsets: {err.str()}")
            self._on_error(err)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def lag(self) -> int | None:
        """Records behind our position on our partitions (None while joining or unreachable)."""
        try:
            assignment = self._consumer.assignment()
            if not assignment:
                return None
            positions = self._consumer.position(assignment)
            unknown = [tp for tp in positions if tp.offset < 0]
            committed: dict[tuple[str, int], int] = {}
            if unknown:
                committed = {
                    (tp.topic, tp.partition): tp.offset
                    for tp in self._consumer.committed(unknown, timeout=2.0)
                }
            total = 0
            for tp in positions:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    low, high = self._consumer.get_watermark_offsets(tp, timeout=2.0)
                position = tp.offset
                if position < 0:
                    position = committed.get((tp.topic, tp.partition), -1)
                    if position < 0:
                        position = low
                total += max(high - position, 0)
            return total
        except (KafkaException, RuntimeError):
            return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()


def produce(config: dict, secret: str, payloads: Iterable[bytes | str]) -> int:
    """Send ``payloads`` to the config's topic and wait until all are acknowledged.

    For tests, the benchmark and the demo. Returns how many were sent; raises
    :class:`SourceUnavailable` if any was not delivered within a minute.
    """
    settings = check_config(config, default_group="-")
    producer = Producer(producer_client_config(settings, secret))
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failures.append(err.str())

    sent = 0
    for payload in payloads:
        value = payload.encode() if isinstance(payload, str) else payload
        while True:
            try:
                producer.produce(settings.topic, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(60.0)
    if remaining or failures:
        reason = failures[0] if failures else f"{remaining} still queued after 60 s"
        raise SourceUnavailable(f"Kafka did not take {remaining + len(failures)} records: {reason}")
    return sent
