"""Redis Streams through a consumer group: the default source, and the carrier of HTTP push.

Each processor reads as its own consumer (``host:pid``) of the stream's group: ``XREADGROUP``
hands every entry to one consumer, ``XACK`` (``commit``) runs only after the results are
stored. Entries a consumer read and never acknowledged (it was killed) stay pending on it;
every :data:`CLAIM_EVERY` seconds each live consumer takes over, with ``XAUTOCLAIM``, the
entries pending longer than ``claim_idle_seconds`` (default ``STREAMS_CLAIM_IDLE_SECONDS``,
30 s) — so a killed processor's messages are scored by a live one, or by its own restart.
The event id of an entry without an id field is its Redis entry id, which a redelivery keeps.

Config: ``{"url": redis://… (default: the platform's REDIS_URL), "key": …, "group": …}``;
the stream's secret, when set, is the Redis password. An HTTP push stream reads the key
``pynomaly:stream:{id}:push`` on the platform's Redis, where the push endpoint ``produce``s.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings

from .base import Message

if TYPE_CHECKING:
    from apps.streams.models import Stream

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "pynomaly"
DATA_FIELD = b"data"
# An entry may carry several records, one JSON document per line (``produce(pack=n)``):
# redis-py parses each entry's reply in Python (~40 µs an entry here), so one record per
# entry caps a consumer near 25,000 records/s; a packed entry costs about the same as one
# record. Each line is a Message of its own, with coordinates ``<entry id>/<line>``.
LINES_FIELD = b"lines"
CLAIM_EVERY = 5.0
DEAD_CONSUMER_IDLE_MS = 3600 * 1000  # forget consumers idle this long with nothing pending
LAG_COUNT_CAP = 10_000
DEFAULT_MAXLEN = 1_000_000
_PIPELINE_CHUNK = 2_000
# Redis 6.2 (the embedded server) has no group lag: count the entries after the last one
# delivered inside Redis. Fetching them to count them cost, measured, a quarter of the
# processor's time on a backlog (up to 10,001 entries parsed every LAG_EVERY seconds).
_COUNT_AFTER = "return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])"


def push_key(stream_id: int) -> str:
    return f"pynomaly:stream:{stream_id}:push"


def stream_config(stream: Stream) -> dict[str, Any]:
    """The effective config of a redis or http stream: url, key, group, password."""
    from apps.common import secrets as secret_box

    config = dict(stream.config or {})
    if stream.kind == "http":
        config = {"url": settings.REDIS_URL, "key": push_key(stream.pk), "group": DEFAULT_GROUP}
    else:
        config.setdefault("url", settings.REDIS_URL)
        config.setdefault("group", DEFAULT_GROUP)
        if not config.get("key"):
            raise ValueError("a Redis stream needs a key")
        if stream.secret_encrypted:
            config["password"] = secret_box.decrypt(stream.secret_encrypted)
    return config


def _client(config: dict[str, Any], *, timeout: float = 10.0) -> redis.Redis:
    return redis.Redis.from_url(
        config.get("url") or settings.REDIS_URL,
        password=config.get("password") or None,
        socket_connect_timeout=5,
        socket_timeout=timeout,
        health_check_interval=30,
    )


def produce(
    config: dict[str, Any],
    payloads: Iterable[bytes],
    *,
    maxlen: int | None = None,
    pack: int = 1,
) -> list[str]:
    """XADD the payloads to ``config["key"]``; the coordinates of each payload, in order.

    ``pack`` > 1 puts up to that many one-line payloads in one entry (field ``lines``; see
    :data:`LINES_FIELD`); else each payload is an entry (field ``data``). A payload's
    coordinates (its event id when the record has no id field) are its entry id, or
    ``<entry id>/<line>`` when packed. The stream is trimmed to about ``maxlen`` entries
    (``STREAMS_REDIS_MAXLEN``, default one million; ``0`` keeps everything): a consumer
    lagging further behind loses the oldest.
    """
    limit = getattr(settings, "STREAMS_REDIS_MAXLEN", DEFAULT_MAXLEN) if maxlen is None else maxlen
    client = _client(config)
    key = config["key"]
    pack = max(1, int(pack))
    out: list[str] = []
    entries: list[list[bytes]] = []
    try:
        for payload in payloads:
            if pack > 1 and b"\n" not in payload and entries and len(entries[-1]) < pack:
                entries[-1].append(payload)
            else:
                entries.append([payload])
            if len(entries) >= _PIPELINE_CHUNK:
                out += _xadd(client, key, entries[:-1], limit, pack)
                entries = entries[-1:]
        if entries:
            out += _xadd(client, key, entries, limit, pack)
    finally:
        client.close()
    return out


def _xadd(
    client: redis.Redis, key: str, entries: list[list[bytes]], maxlen: int, pack: int
) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for lines in entries:
        if pack > 1 and b"\n" not in lines[0]:
            fields = {LINES_FIELD: b"\n".join(lines)}
        else:
            fields = {DATA_FIELD: lines[0]}
        pipe.xadd(key, fields, maxlen=maxlen or None, approximate=True)  # type: ignore[arg-type]
    out = []
    for lines, entry_id in zip(entries, pipe.execute(), strict=True):
        eid = entry_id.decode()
        if pack > 1 and b"\n" not in lines[0]:
            out += [f"{eid}/{i}" for i in range(len(lines))]
        else:
            out.append(eid)
    return out


class RedisConsumer:
    """One consumer of a Redis stream's group (see the module note)."""

    # Served by the processor's reader thread (processor.Prefetch): poll, commit and lag.
    prefetch = True

    def __init__(
        self,
        config: dict[str, Any],
        consumer_name: str,
        *,
        claim_idle_seconds: float | None = None,
    ) -> None:
        self.key: str = config["key"]
        self.group: str = config.get("group") or DEFAULT_GROUP
        self.name = consumer_name
        idle = (
            claim_idle_seconds
            if claim_idle_seconds is not None
            else getattr(settings, "STREAMS_CLAIM_IDLE_SECONDS", 30.0)
        )
        self.claim_idle_ms = max(1, int(idle * 1000))
        self._config = config
        self._client = _client(config, timeout=30.0)
        # XREADGROUP's reply as the server sent it: redis-py's own parsing into a dict per
        # entry cost ~0.8 µs a record (1.9 against 1.1 µs for 5,000 one-record entries,
        # XRANGE, hiredis); _messages reads the flat field lists itself.
        self._client.set_response_callback("XREADGROUP", _unparsed)
        self._count_after = self._client.register_script(_COUNT_AFTER)
        # First polls: what this name read before and did not ack, from the start of its
        # pending list; the cursor moves past each entry handed out, so that entries in
        # flight (polled ahead, not yet acked) are never handed out twice.
        self._own_pending = True
        self._pending_cursor = "0"
        self._next_claim = 0.0
        self._claim_cursor = "0-0"
        # Most lines seen in one entry: COUNT counts entries, so a poll asks for
        # max_messages / this many (bounded memory with packed entries). None: nothing
        # read yet, so the first read takes a single entry to learn it.
        self._lines_per_entry: int | None = None
        self._ensure_group()

    @classmethod
    def from_stream(cls, stream: Stream, consumer_name: str) -> RedisConsumer:
        return cls(stream_config(stream), consumer_name)

    def _ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- reading -------------------------------------------------------------------
    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        try:
            return self._poll(max_messages, timeout)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._ensure_group()  # the key was deleted (and the group with it): start again
            return []

    def _poll(self, max_messages: int, timeout: float) -> list[Message]:
        lines = self._lines_per_entry
        count = 1 if lines is None else max(1, int(max_messages) // lines)
        while self._own_pending:
            reply: Any = self._client.xreadgroup(
                self.group, self.name, {self.key: self._pending_cursor}, count=count
            )
            entries = _entries(reply)
            if not entries:
                self._own_pending = False
                break
            last = entries[-1][0]
            self._pending_cursor = last.decode() if isinstance(last, bytes) else last
            messages = self._messages(entries)
            if messages:  # else only entries trimmed away while pending: read on
                return messages
        now = time.monotonic()
        if now >= self._next_claim:
            claimed = self._claim(count)
            if claimed:
                return claimed
            self._next_claim = now + CLAIM_EVERY
        return self._read(">", count, max(1, int(timeout * 1000)))

    def _read(self, start: str, count: int, block_ms: int | None) -> list[Message]:
        reply: Any = self._client.xreadgroup(
            self.group, self.name, {self.key: start}, count=count, block=block_ms
        )
        return self._messages(_entries(reply))

    def _claim(self, count: int) -> list[Message]:
        reply = self._client.xautoclaim(
            self.key,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        self._claim_cursor = cursor  # "0-0" once the whole pending list was scanned
        if cursor == "0-0":
            self._forget_dead_consumers()
        messages = self._messages(entries)
        if messages:
            logger.info(
                "stream %s: took over %d messages pending on a silent consumer",
                self.key,
                len(messages),
            )
        return messages

    def _forget_dead_consumers(self) -> None:
        for info in self._client.xinfo_consumers(self.key, self.group):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != self.name and not info["pending"] and info["idle"] > DEAD_CONSUMER_IDLE_MS:
                self._client.xgroup_delconsumer(self.key, self.group, name)

    def _messages(self, entries: list) -> list[Message]:
        """Messages of ``entries``: ``(id, fields)`` pairs, the fields a flat list (our
        XREADGROUP) or a dict (XAUTOCLAIM)."""
        out: list[Message] = []
        append = out.append
        if entries and self._lines_per_entry is None:
            self._lines_per_entry = 1
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending: nothing to score
                continue
            eid = entry_id.decode() if type(entry_id) is bytes else entry_id
            received = int(eid.partition("-")[0]) / 1000.0
            if type(fields) is list:
                if len(fields) == 2 and fields[0] == DATA_FIELD:  # one record: the hot path
                    append(Message(fields[1], eid, received, eid))
                    continue
                fields = dict(zip(fields[::2], fields[1::2], strict=True))
            packed = fields.get(LINES_FIELD)
            if packed is not None:
                parts = packed.split(b"\n")
                self._lines_per_entry = max(self._lines_per_entry or 1, len(parts))
                out += [Message(line, f"{eid}/{i}", received, eid) for i, line in enumerate(parts)]
                continue
            payload = fields.get(DATA_FIELD)
            if payload is None:  # entries XADDed as field/value pairs: a record of text
                import orjson

                payload = orjson.dumps(
                    {
                        k.decode(errors="replace"): v.decode(errors="replace")
                        for k, v in fields.items()
                    }
                )
            append(Message(payload, eid, received, eid))
        return out

    # -- acknowledging, lag --------------------------------------------------------
    def commit(self, messages: list[Message]) -> None:
        ids = list(dict.fromkeys(m.token for m in messages))  # a packed entry once
        pipe = self._client.pipeline(transaction=False)
        for start in range(0, len(ids), 10_000):
            pipe.xack(self.key, self.group, *ids[start : start + 10_000])
        pipe.execute()

    def lag(self) -> int | None:
        group = next(
            (
                g
                for g in self._client.xinfo_groups(self.key)
                if (g["name"].decode() if isinstance(g["name"], bytes) else g["name"]) == self.group
            ),
            None,
        )
        if group is None:
            return None
        if group.get("lag") is not None:  # Redis 7
            return int(group["lag"])
        last = group["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else last
        # Redis 6.2 keeps no lag: count the entries after the last delivered (bounded).
        after = int(self._count_after(keys=[self.key], args=[f"({last}", LAG_COUNT_CAP + 1]))
        if after <= LAG_COUNT_CAP:
            return after
        return int(self._client.xlen(self.key))

    def close(self) -> None:
        self._client.close()


def _unparsed(response: Any, **options: Any) -> Any:
    return response


def _entries(reply: Any) -> list:
    """The entries of an unparsed XREADGROUP reply on one key: ``[[key, entries]]`` in RESP2,
    ``{key: entries}`` in RESP3 (a ``?protocol=3`` URL); nothing: None or empty."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return next(iter(reply.values()))
    return reply[0][1]


def consumer_name() -> str:
    """This process's name in every group: ``host:pid``."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"
