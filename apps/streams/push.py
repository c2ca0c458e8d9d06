"""HTTP push: records posted to ``/api/v1/streams/{id}/events`` go into a Redis stream on the platform's Redis.

One processor path serves every kind: an HTTP push stream is read by the Redis adapter from
``pynomaly:stream:{id}:push`` like any Redis stream. The request is answered 202 once every
record is in Redis (XADD, pipelined in one round trip): nothing is scored in the request.

The body is parsed and checked whole before anything is written, so a bad line refuses the
batch and leaves nothing half-written (the pusher gets the line number back).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import orjson
from django.conf import settings

# The field each entry carries the record's JSON in (read by apps.streams.sources.redis).
FIELD = "data"


def push_key(stream_id: int) -> str:
    return f"pynomaly:stream:{stream_id}:push"


@dataclass
class BadBody(Exception):
    """The body cannot be taken: ``status`` 400 (not JSON) or 422 (JSON, not records)."""

    status: int
    detail: str
    loc: list


def parse_records(body: bytes, *, ndjson: bool, max_records: int) -> list[bytes]:
    """Each record (a JSON object) as compact JSON bytes, in order; raises BadBody or TooMany."""
    if ndjson:
        lines = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
        if len(lines) > max_records:
            raise TooMany(len(lines))
        out = []
        for number, line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise BadBody(
                    400, f"Line {number} is not valid JSON ({exc}).", ["body", number]
                ) from None
            if not isinstance(record, dict):
                raise BadBody(422, f"Line {number} is not a JSON object.", ["body", number])
            out.append(orjson.dumps(record))
        return out
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(400, f"The body is not valid JSON ({exc}).", ["body"]) from None
    if not isinstance(data, list):
        raise BadBody(422, "Send a JSON array of records (objects), or NDJSON.", ["body"])
    if len(data) > max_records:
        raise TooMany(len(data))
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            raise BadBody(422, f"Record {i} is not a JSON object.", ["body", i])
    return [orjson.dumps(r) for r in data]


class TooMany(Exception):
    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


class Backlogged(Exception):
    """The stream's processor is this far behind: refuse rather than grow Redis without bound."""

    def __init__(self, waiting: int):
        super().__init__(waiting)
        self.waiting = waiting


@functools.lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def redis_client():
    return _client(settings.REDIS_URL)


def produce(stream_id: int, payloads: list[bytes]) -> int:
    """XADD every payload to the stream's push key in one pipelined round trip; the count added.

    Refused (``Backlogged``) when more than ``STREAM_PUSH_MAX_BACKLOG`` entries wait to be
    scored, so a stopped or slow processor cannot make Redis grow without bound.
    """
    client = redis_client()
    key = push_key(stream_id)
    waiting = backlog(client, key)
    if waiting + len(payloads) > settings.STREAM_PUSH_MAX_BACKLOG:
        raise Backlogged(waiting)
    with client.pipeline(transaction=False) as pipe:
        for payload in payloads:
            pipe.xadd(key, {FIELD: payload})
        pipe.execute()
    return len(payloads)


def backlog(client, key: str) -> int:
    """Entries not yet scored: the consumer groups' lag and pending (Redis 7), else the length."""
    import redis

    try:
        groups = client.xinfo_groups(key)
    except redis.ResponseError:  # no such key yet
        return 0
    if not groups:
        return int(client.xlen(key))
    worst = 0
    for group in groups:
        lag = group.get("lag")
        if lag is None:  # Redis < 7 or a lag it cannot tell: count every entry
            return int(client.xlen(key))
        worst = max(worst, int(lag) + int(group.get("pending", 0)))
    return worst


def drop(stream_id: int) -> None:
    """Forget a deleted stream's pushed records."""
    redis_client().delete(push_key(stream_id))
