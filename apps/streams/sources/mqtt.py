"""MQTT through paho-mqtt (MQTT 5): a shared subscription, manual acks, a persistent session.

Sharing: every processor of a stream subscribes to ``$share/<group>/<filter>``; the broker
hands each message to one member of the group. Mosquitto (2.0.11, measured) deals the messages
round robin over the group's *sessions*, connected or not: a processor that is down keeps its
share waiting in its session until it is back, so processors must come back under the same
name (the client id is ``pynomaly-<group>-<consumer_name>``). It also drops what is published
to a shared subscription after a broker restart and before its members reconnect (a plain
subscription's session gets it): a stream read by one processor can set ``shared`` false.

Delivery (QoS 1): paho's ``manual_ack`` keeps the PUBACK until :meth:`commit`; the session
outlives the connection (clean start off, ``session_expiry`` seconds), so what was received and
not acked is sent again by the broker when this client id reconnects — after a closed
consumer, a dropped connection or a killed processor. QoS 2 is subscribed as QoS 1 (the broker
then delivers at most QoS 1): paho answers a QoS 2 PUBLISH with PUBREC at once, before we stored
anything, and keeps that state in memory only, so a processor killed in between would lose the
message; QoS 1 redelivers it, and the event id makes the copy harmless. QoS 0 is at most once.

Event ids: MQTT packet ids are not message ids — they are reused as soon as a message is
acked, and a redelivered message may carry another one after its session was lost — so the
coordinates are the topic and a hash of the payload: stable across redelivery, but two
identical payloads on one topic share it. MQTT streams should carry an id field in each record
(the stream's ``id_field``).

Backpressure: there is no background network thread. :meth:`poll` drives paho's loop itself
and reads packets only until it has ``max_messages``; while the processor is busy nothing is
read, the socket's buffers fill and the broker stops sending (for QoS 1 it also never has more
than ``receive_maximum`` unacked messages out to us). Memory is bounded by one batch; messages
wait on the broker (Mosquitto queues ``max_queued_messages`` per session — 1000 by default,
beyond which it drops: raise it for a busy stream). The broker cannot tell how many wait, so
:meth:`lag` is None.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from apps.streams.sources.base import Message
from apps.streams.sources.errors import (
    SourceConfigError,
    SourceUnavailable,
    optional_str,
    require_str,
)

log = logging.getLogger(__name__)

DEFAULT_SESSION_EXPIRY = 86_400
KEEPALIVE = 60
CONNECT_TIMEOUT = 10.0
BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """A stream's MQTT config, checked (never the password)."""

    host: str
    port: int
    topic: str
    qos: int
    group: str
    username: str = ""
    tls: bool = False
    tls_ca_file: str = ""
    session_expiry: int = DEFAULT_SESSION_EXPIRY
    shared: bool = True

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{self.topic}" if self.shared else self.topic

    @property
    def subscribe_qos(self) -> int:
        return min(self.qos, 1)


def _int(config: dict, key: str, default: int, label: str, low: int, high: int) -> int:
    value = config.get(key, default)
    if value in (None, ""):
        value = default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SourceConfigError(f"{label} must be a whole number from {low} to {high}.")
    return value


def check_config(config: dict, *, default_group: str = "") -> MqttSettings:
    """The settings in ``config``, or a :class:`SourceConfigError` saying what to fix."""
    if not isinstance(config, dict):
        raise SourceConfigError("The MQTT settings must be an object.")
    host = require_str(config, "host", "Host")
    tls = config.get("tls", False)
    if not isinstance(tls, bool):
        raise SourceConfigError("TLS must be true or false.")
    shared = config.get("shared", True)
    if not isinstance(shared, bool):
        raise SourceConfigError("Shared must be true or false.")
    port = _int(config, "port", 8883 if tls else 1883, "Port", 1, 65535)
    topic = require_str(config, "topic", "Topic filter")
    if topic.startswith("$share/"):
        raise SourceConfigError(
            "Give the topic filter without $share/…: the stream's processors share it themselves."
        )
    parts = topic.split("/")
    for i, part in enumerate(parts):
        if ("+" in part and part != "+") or ("#" in part and (part != "#" or i != len(parts) - 1)):
            raise SourceConfigError(
                "In a topic filter, + stands for a whole level and # only for the last one."
            )
    group = optional_str(config, "group", "Group") or default_group
    if not group or not re.fullmatch(r"[A-Za-z0-9_.-]+", group):
        raise SourceConfigError("Group must be letters, digits, '.', '_' or '-'.")
    return MqttSettings(
        host=host,
        port=port,
        topic=topic,
        qos=_int(config, "qos", 1, "QoS", 0, 2),
        group=group,
        username=optional_str(config, "username", "User name"),
        tls=tls,
        tls_ca_file=optional_str(config, "tls_ca_file", "CA certificate file"),
        session_expiry=_int(
            config, "session_expiry", DEFAULT_SESSION_EXPIRY, "Session expiry", 60, 2**32 - 1
        ),
        shared=shared,
    )


def client_id(settings: MqttSettings, consumer_name: str) -> str:
    return "pynomaly-" + re.sub(r"[^A-Za-z0-9_.-]", "-", f"{settings.group}-{consumer_name}")


def build_client(
    settings: MqttSettings, secret: str, *, client_id: str, manual_ack: bool = True
) -> paho.Client:
    """A paho client with the stream's credentials and TLS (it holds the secret: never log it)."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username:
        client.username_pw_set(settings.username, secret or None)
    if settings.tls:
        client.tls_set(
            ca_certs=settings.tls_ca_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return client


def _connect_properties(settings: MqttSettings, receive_maximum: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = settings.session_expiry
    props.ReceiveMaximum = receive_maximum
    return props


def _coordinates(topic: str, payload: bytes) -> str:
    return f"{topic}/{hashlib.blake2b(payload, digest_size=16).hexdigest()}"


class MqttConsumer:
    """One member of the stream's shared subscription (see the module's docstring)."""

    def __init__(
        self,
        settings: MqttSettings,
        secret: str,
        *,
        consumer_name: str,
        receive_maximum: int = 10_000,
    ) -> None:
        self.settings = settings
        self.consumer_name = consumer_name
        self.client_id = client_id(settings, consumer_name)
        self.problem: str | None = None
        self._buffer: list[Message] = []
        self._subscribed = False
        self._refusal: str | None = None
        # Acks go only to the connection a message came on: after a reconnect the broker
        # sends every unacked message again (same session), and an old packet id may by then
        # name another message.
        self._generation = 0
        self._next_attempt = 0.0
        self._backoff = 0.5
        self._closed = False
        self._props = _connect_properties(settings, max(1, min(receive_maximum, 65535)))
        self._client = build_client(settings, secret, client_id=self.client_id)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        try:
            self._connect()
        except BaseException:
            self._closed = True
            self._drop()
            raise

    @classmethod
    def from_stream(cls, stream: Any, consumer_name: str) -> MqttConsumer:
        from apps.common import secrets

        settings = check_config(stream.config, default_group=f"pynomaly-stream-{stream.pk}")
        return cls(
            settings,
            secrets.decrypt(stream.secret_encrypted),
            consumer_name=consumer_name,
            receive_maximum=2 * max(int(stream.batch_size or 0), 500),
        )

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"<MqttConsumer {s.host}:{s.port} {s.subscription} qos={s.qos} "
            f"tls={s.tls} client_id={self.client_id}>"
        )

    # ---- paho callbacks (called from inside our own loop() calls)
    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            self._refusal = self.problem = f"MQTT broker refused the connection: {reason}"
            return
        self._refusal = None
        self._generation += 1
        self._backoff = 0.5
        if flags.session_present:  # the broker sends again what the last connection had
            self._buffer = [m for m in self._buffer if m.token[0] == self._generation]
        client.subscribe(self.settings.subscription, qos=self.settings.subscribe_qos)

    def _on_subscribe(
        self, _c: Any, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            self.problem = (
                f"MQTT broker refused the subscription {self.settings.subscription}: {reasons[0]}"
            )
        else:
            self._subscribed = True
            self.problem = None

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._subscribed = False
        if not self._closed and not self._refusal:
            self.problem = f"MQTT connection lost: {reason}"
            log.warning(
                "MQTT %s (%s): disconnected: %s", self.settings.topic, self.client_id, reason
            )

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        payload = msg.payload if isinstance(msg.payload, bytes) else bytes(msg.payload)
        self._buffer.append(
            Message(
                payload=payload,
                coordinates=_coordinates(msg.topic, payload),
                received_at=time.time(),
                token=(self._generation, msg.mid, msg.qos),
            )
        )

    # ---- connecting
    def _connect(self) -> None:
        """Connect and wait for the subscription (a refused login raises at once)."""
        s = self.settings
        try:
            self._client.connect(
                s.host, s.port, keepalive=KEEPALIVE, clean_start=False, properties=self._props
            )
        except (OSError, ssl.SSLError) as exc:
            raise SourceUnavailable(f"MQTT broker {s.host}:{s.port}: {exc}") from None
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not self._subscribed:
            rc = self._client.loop(0.1)
            if self._refusal:
                raise SourceUnavailable(self._refusal)
            if rc != paho.MQTT_ERR_SUCCESS or time.monotonic() > deadline:
                raise SourceUnavailable(
                    self.problem
                    or f"MQTT broker {s.host}:{s.port}: no answer ({paho.error_string(rc)})"
                )

    def _reconnect(self, deadline: float) -> bool:
        """One reconnect attempt when its backoff is due (sleeping at most until ``deadline``)."""
        now = time.monotonic()
        if now < self._next_attempt:
            time.sleep(max(0.0, min(self._next_attempt, deadline) - now))
            if time.monotonic() < self._next_attempt:
                return False
        try:
            self._client.reconnect()
            end = time.monotonic() + CONNECT_TIMEOUT
            while not self._subscribed and time.monotonic() < end:
                if self._client.loop(0.1) != paho.MQTT_ERR_SUCCESS:
                    break
            if self._subscribed:
                log.info("MQTT %s (%s): reconnected", self.settings.topic, self.client_id)
                return True
        except (OSError, ssl.SSLError) as exc:
            self.problem = f"MQTT broker {self.settings.host}:{self.settings.port}: {exc}"
        self._next_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        return False

    # ---- the contract
    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self._buffer) < max_messages:
            if not self._subscribed and not self._reconnect(deadline):
                if time.monotonic() >= deadline:
                    break
                continue
            # Wait (at most until the deadline) only for the first message; then read on
            # without waiting while the socket has more, until the batch is full.
            wait = 0.0 if self._buffer else max(0.0, min(deadline - time.monotonic(), 1.0))
            before = len(self._buffer)
            if self._client.loop(wait) != paho.MQTT_ERR_SUCCESS:
                self._subscribed = False
                continue
            while before < len(self._buffer) < max_messages:
                before = len(self._buffer)
                if self._client.loop_read() != paho.MQTT_ERR_SUCCESS:
                    break
            drained = bool(self._buffer) and len(self._buffer) == before
            if drained or time.monotonic() >= deadline:
                break
        out, self._buffer = self._buffer[:max_messages], self._buffer[max_messages:]
        return out

    def commit(self, messages: list[Message]) -> None:
        for message in messages:
            generation, mid, qos = message.token
            if qos and generation == self._generation:
                self._client.ack(mid, qos)
        if self._client.is_connected():
            self._client.loop_misc()  # keepalive: a busy processor still pings

    def lag(self) -> int | None:
        return None

    def close(self) -> None:
        """Disconnect, keeping the session: the unacked messages go to this client id again."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._drop()

    def _drop(self) -> None:
        if self._client.is_connected():
            self._barrier()
        # A DISCONNECT with no session expiry of its own keeps the session of CONNECT.
        if self._client.disconnect() == paho.MQTT_ERR_SUCCESS:
            self._client.loop(0.1)

    def _barrier(self, timeout: float = 5.0) -> None:
        """Wait until the broker has handled the acks sent so far.

        Closing right after the last PUBACKs lost some of them (Mosquitto 2.0 redelivered
        messages acked just before the DISCONNECT). MQTT has no answer to a PUBACK, but the
        broker handles a connection's packets in order: the SUBACK to a repeated SUBSCRIBE of
        our own subscription (a no-op) comes after every earlier ack was handled.
        """
        self._subscribed = False
        self._client.subscribe(self.settings.subscription, qos=self.settings.subscribe_qos)
        end = time.monotonic() + timeout
        while not self._subscribed and time.monotonic() < end:
            if self._client.loop(0.1) != paho.MQTT_ERR_SUCCESS:
                return


def end_session(config: dict, secret: str, consumer_name: str) -> None:
    """Drop the broker's session of a processor that will not come back (a deleted stream).

    What it held unacked is discarded with it.
    """
    settings = check_config(config, default_group=config.get("group") or "-")
    client = build_client(settings, secret, client_id=client_id(settings, consumer_name))
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    try:
        client.connect(settings.host, settings.port, clean_start=True, properties=props)
    except (OSError, ssl.SSLError) as exc:
        raise SourceUnavailable(f"MQTT broker {settings.host}:{settings.port}: {exc}") from None
    client.loop(1.0)
    client.disconnect()
    client.loop(0.1)


def produce(
    config: dict, secret: str, payloads: Iterable[bytes | str], *, qos: int | None = None
) -> int:
    """Publish ``payloads`` to the config's topic (it must be a topic, not a filter).

    For tests, the benchmark and the demo; waits until the broker acknowledged every message
    (QoS 1/2). Returns how many were published.
    """
    settings = check_config(config, default_group="produce")
    if "+" in settings.topic or "#" in settings.topic:
        raise SourceConfigError("Publish to a topic, not a filter with + or #.")
    qos = settings.qos if qos is None else qos
    client = build_client(settings, secret, client_id="", manual_ack=False)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    try:
        client.connect(settings.host, settings.port, keepalive=KEEPALIVE)
    except (OSError, ssl.SSLError) as exc:
        raise SourceUnavailable(f"MQTT broker {settings.host}:{settings.port}: {exc}") from None
    client.loop_start()
    try:
        infos = []
        for payload in payloads:
            infos.append(client.publish(settings.topic, payload, qos=qos))
        for info in infos:
            info.wait_for_publish(60)
            if not info.is_published() and qos:
                raise SourceUnavailable("MQTT broker did not acknowledge every message in 60 s.")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()
