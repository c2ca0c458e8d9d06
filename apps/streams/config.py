"""Per-kind broker settings: what a stream's ``config`` may hold, checked the same for the form and the API.

``clean_config(kind, raw)`` returns the config to store (never a secret) and, when the input
carried one (a password in a ``redis://user:pass@host`` URL), the password to encrypt. Every
host is checked with :func:`apps.common.netguard.resolve_allowed` so a stream cannot become a
way into the server's own network; the processor checks again when it connects
(:func:`apps.streams.services.stream_connection`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from apps.common.netguard import HostRefused, resolve_allowed

from .models import Stream

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_MECHANISMS = ("", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# The keys each kind keeps (anything else is refused, so a typo is not silently ignored).
KEYS: dict[str, tuple[str, ...]] = {
    Stream.Kind.REDIS: ("url", "key", "group"),
    Stream.Kind.KAFKA: (
        "bootstrap_servers", "topic", "group", "security_protocol", "sasl_mechanism", "username",
    ),
    Stream.Kind.MQTT: ("host", "port", "topic", "qos", "username", "tls"),
    Stream.Kind.NATS: ("servers", "stream", "subject", "durable"),
    Stream.Kind.HTTP: (),
}  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9._\-:/]{1,249}$")  # topic / key / group / durable names
_NATS_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")
_NATS_SUBJECT = re.compile(r"^[^\s]{1,500}$")


class ConfigErrors(dict):
    """field → message; empty when the config is good."""


def _text(raw: dict, key: str, errors: ConfigErrors, *, required: bool, default: str = "") -> str:
    value = raw.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        errors[key] = "Give a text value."
        return ""
    value = value.strip()
    if "\x00" in value:
        errors[key] = "Must not contain NUL characters."
    elif len(value) > 500:
        errors[key] = "Too long (500 characters at most)."
    elif required and not value:
        errors[key] = "This field is required for this kind of stream."
    return value


def _port(value: Any, key: str, errors: ConfigErrors, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        port = int(value)
    except (TypeError, ValueError):
        errors[key] = "The port must be a whole number."
        return default
    if not 0 < port < 65536:
        errors[key] = "The port must be between 1 and 65535."
    return port


def _guard(host: str, port: int, key: str, errors: ConfigErrors) -> None:
    if key in errors:
        return
    try:
        resolve_allowed(host, port)
    except HostRefused as exc:
        errors[key] = exc.messages[0]


def _host_port(item: str, default_port: int) -> tuple[str, int] | None:
    """``host:port`` / ``[v6]:port`` / ``host`` → (host, port); None when it is not one."""
    try:
        parts = urlsplit("//" + item.strip())
        port = parts.port or default_port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.username:
        return None
    return parts.hostname, port


def _redis(raw: dict, errors: ConfigErrors) -> tuple[dict, str | None]:
    url = _text(raw, "url", errors, required=True)
    password = None
    if url and "url" not in errors:
        try:
            parts = urlsplit(url)
            port = parts.port or 6379
        except ValueError:
            errors["url"] = "The URL is not valid."
            parts, port = None, 6379
        if parts is not None:
            if parts.scheme not in ("redis", "rediss") or not parts.hostname:
                errors["url"] = "Give a redis://host:port/db (or rediss://) URL."
            else:
                if parts.password:
                    # The password goes to the encrypted field; the stored URL keeps no secret.
                    password = unquote(parts.password)
                user = f"{parts.username}@" if parts.username else ""
                host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                netloc = f"{user}{host}:{port}"
                url = urlunsplit((parts.scheme, netloc, parts.path or "/0", "", ""))
                _guard(parts.hostname, port, "url", errors)
    key = _text(raw, "key", errors, required=True)
    group = _text(raw, "group", errors, required=False, default="pynomaly") or "pynomaly"
    for field, value in (("key", key), ("group", group)):
        if value and field not in errors and not _NAME.match(value):
            errors[field] = "Letters, digits and . _ - : / only (at most 249)."
    return {"url": url, "key": key, "group": group}, password


def _kafka(raw: dict, errors: ConfigErrors) -> dict:
    servers = raw.get("bootstrap_servers") or ""
    if isinstance(servers, list):
        servers = ",".join(str(s) for s in servers)
    servers = _text({"bootstrap_servers": servers}, "bootstrap_servers", errors, required=True)
    checked = []
    for item in [s for s in servers.split(",") if s.strip()]:
        hp = _host_port(item, 9092)
        if hp is None:
            errors["bootstrap_servers"] = f"{item.strip()!r} is not host:port."
            break
        _guard(hp[0], hp[1], "bootstrap_servers", errors)
        checked.append(f"{hp[0]}:{hp[1]}")
    topic = _text(raw, "topic", errors, required=True)
    group = _text(raw, "group", errors, required=False, default="pynomaly") or "pynomaly"
    for field, value in (("topic", topic), ("group", group)):
        if value and field not in errors and not _NAME.match(value):
            errors[field] = "Letters, digits and . _ - : / only (at most 249)."
    protocol = _text(raw, "security_protocol", errors, required=False, default="PLAINTEXT")
    protocol = (protocol or "PLAINTEXT").upper()
    if protocol not in KAFKA_PROTOCOLS:
        errors["security_protocol"] = f"Choose one of {', '.join(KAFKA_PROTOCOLS)}."
    mechanism = _text(raw, "sasl_mechanism", errors, required=False).upper()
    if mechanism not in KAFKA_MECHANISMS:
        errors["sasl_mechanism"] = f"Choose one of {', '.join(m for m in KAFKA_MECHANISMS if m)}."
    elif protocol.startswith("SASL") and not mechanism:
        errors["sasl_mechanism"] = "SASL needs a mechanism (PLAIN, SCRAM-SHA-256 …)."
    username = _text(raw, "username", errors, required=protocol.startswith("SASL"))
    return {
        "bootstrap_servers": ",".join(checked) if checked else servers,
        "topic": topic,
        "group": group,
        "security_protocol": protocol,
        "sasl_mechanism": mechanism,
        "username": username,
    }


def _mqtt_topic_ok(topic: str) -> bool:
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def _mqtt(raw: dict, errors: ConfigErrors) -> dict:
    host = _text(raw, "host", errors, required=True)
    tls = raw.get("tls") in (True, "true", "on", "1", 1)
    port = _port(raw.get("port"), "port", errors, 8883 if tls else 1883)
    if host and "host" not in errors:
        _guard(host, port, "host", errors)
    topic = _text(raw, "topic", errors, required=True)
    if topic and "topic" not in errors and not _mqtt_topic_ok(topic):
        errors["topic"] = "Not an MQTT topic filter: + fills a whole level, # only the last one."
    try:
        qos = int(raw.get("qos", 1) if raw.get("qos") not in (None, "") else 1)
    except (TypeError, ValueError):
        qos = -1
    if qos not in (0, 1, 2):
        errors["qos"] = "QoS is 0, 1 or 2 (1 or 2 for nothing to be lost)."
    username = _text(raw, "username", errors, required=False)
    return {
        "host": host,
        "port": port,
        "topic": topic,
        "qos": qos,
        "username": username,
        "tls": tls,
    }


def _nats(raw: dict, errors: ConfigErrors) -> dict:
    servers = raw.get("servers") or ""
    if isinstance(servers, list):
        servers = ",".join(str(s) for s in servers)
    servers = _text({"servers": servers}, "servers", errors, required=True)
    checked = []
    for item in [s.strip() for s in servers.split(",") if s.strip()]:
        try:
            parts = urlsplit(item if "://" in item else f"nats://{item}")
            port = parts.port or 4222
        except ValueError:
            parts, port = None, 4222
        if parts is None or parts.scheme not in ("nats", "tls") or not parts.hostname:
            errors["servers"] = f"{item!r} is not a nats://host:port address."
            break
        if parts.password or parts.username:
            errors["servers"] = "Put no credentials in the address; use the password field."
            break
        _guard(parts.hostname, port, "servers", errors)
        checked.append(f"{parts.scheme}://{parts.hostname}:{port}")
    stream = _text(raw, "stream", errors, required=True)
    subject = _text(raw, "subject", errors, required=True)
    durable = _text(raw, "durable", errors, required=False, default="pynomaly") or "pynomaly"
    for field, value, rule in (("stream", stream, _NATS_NAME), ("durable", durable, _NATS_NAME),
                               ("subject", subject, _NATS_SUBJECT)):  # fmt: skip
        if value and field not in errors and not rule.match(value):
            errors[field] = "Letters, digits, - and _ only." if rule is _NATS_NAME else "No spaces."
    return {
        "servers": ",".join(checked) if checked else servers,
        "stream": stream,
        "subject": subject,
        "durable": durable,
    }


def clean_config(kind: str, raw: Any) -> tuple[dict, str | None, ConfigErrors]:
    """(config to store, password found in it or None, errors by config key)."""
    errors = ConfigErrors()
    if not isinstance(raw, dict):
        errors["config"] = "The configuration is an object of settings."
        return {}, None, errors
    unknown = sorted(set(raw) - set(KEYS.get(kind, ())))
    if unknown:
        allowed = ", ".join(KEYS.get(kind, ())) or "nothing (HTTP push needs no settings)"
        errors["config"] = f"Unknown setting {unknown[0]!r}; this kind takes {allowed}."
        return {}, None, errors
    password = None
    if kind == Stream.Kind.REDIS:
        config, password = _redis(raw, errors)
    elif kind == Stream.Kind.KAFKA:
        config = _kafka(raw, errors)
    elif kind == Stream.Kind.MQTT:
        config = _mqtt(raw, errors)
    elif kind == Stream.Kind.NATS:
        config = _nats(raw, errors)
    else:
        config = {}
    return config, password, errors


def address(stream: Stream) -> str:
    """Where the stream reads from, for lists and messages (never with a credential)."""
    c = stream.config or {}
    if stream.kind == Stream.Kind.REDIS:
        return f"{c.get('url', '')} {c.get('key', '')}"
    if stream.kind == Stream.Kind.KAFKA:
        return f"{c.get('bootstrap_servers', '')} {c.get('topic', '')}"
    if stream.kind == Stream.Kind.MQTT:
        scheme = "mqtts" if c.get("tls") else "mqtt"
        return f"{scheme}://{c.get('host', '')}:{c.get('port', '')} {c.get('topic', '')}"
    if stream.kind == Stream.Kind.NATS:
        return f"{c.get('servers', '')} {c.get('subject', '')}"
    return "HTTP push"
