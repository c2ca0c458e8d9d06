"""Rate limits per token, per client IP and for unauthenticated callers, counted in Redis.

A fixed window per key: one Lua script INCRements the counter and sets its expiry on the
first hit, atomically, so 50 simultaneous requests against a limit of 20 let exactly 20
through however the web processes interleave. Over the limit the API answers 429 with
``Retry-After`` (the seconds until the window resets).

A request counts against several limits (its client IP, then its token or the anonymous
bucket) in ONE round trip: the script walks the keys in order and stops at the first one
over its limit, so a later counter is not charged for a request an earlier limit refused
(as if each were checked in turn).

Rates read like ``"600/min"``: a count, then a window of ``s``/``sec``/``m``/``min``/``h``/
``hour``/``d``/``day``, optionally with a multiplier (``"5/15min"``).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

KEY_PREFIX = "pynomaly:api:rl:"
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")

# KEYS[i] counter i; ARGV[2i-1] its window in ms, ARGV[2i] its limit. Counts the keys in
# order and stops at the first over its limit. Returns {index over the limit or 0, its ms until reset}.
_SCRIPT = """
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window) end
  if n > tonumber(ARGV[2 * i]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
    return {i, ttl}
  end
end
return {0, 0}
"""

DEFAULTS = {
    "API_RATE_PER_TOKEN": "600/min",
    "API_RATE_PER_IP": "1200/min",
    "API_RATE_ANON": "60/min",
    "API_RATE_PUSH": "6000/min",
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


@functools.lru_cache(maxsize=64)
def parse_rate(text: str) -> Rate | None:
    """``"600/min"`` → Rate(600, 60); empty or ``"off"`` → None (no limit)."""
    if not text or text.strip().lower() in ("off", "none", "0"):
        return None
    m = _RATE.match(text.lower())
    if not m or m.group(3) not in _UNITS:
        raise ValueError(f"not a rate: {text!r} (write e.g. 600/min)")
    return Rate(int(m.group(1)), int(m.group(2) or 1) * _UNITS[m.group(3)])


class RateLimited(Exception):
    def __init__(self, retry_after: int, what: str):
        super().__init__(what)
        self.retry_after = retry_after
        self.what = what


_clients: dict[str, object] = {}
_lock = threading.Lock()


def _redis():
    """One client (one connection pool) per URL for the whole process."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        import redis

        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                client._pyn_script = client.register_script(_SCRIPT)
                _clients[url] = client
    return client


def hit_many(checks: list[tuple[str, str, str]]) -> None:
    """Count one request against each ``(bucket, ident, setting)`` in one Redis round trip.

    Raises RateLimited for the first limit (in the given order) that the request exceeds;
    counters after it are left alone. Unlimited settings are skipped.
    """
    keys: list[str] = []
    args: list[int] = []
    buckets: list[str] = []
    for bucket, ident, setting in checks:
        rate = parse_rate(getattr(settings, setting, DEFAULTS[setting]))
        if rate is None:
            continue
        keys.append(f"{KEY_PREFIX}{bucket}:{ident}")
        args += [rate.seconds * 1000, rate.count]
        buckets.append(bucket)
    if not keys:
        return
    try:
        over, ttl_ms = _redis()._pyn_script(keys=keys, args=args)
    except Exception:  # noqa: BLE001 - a Redis outage must not take the API down with it
        log.warning("rate limiter unavailable; request allowed", exc_info=True)
        return
    if int(over):
        raise RateLimited(max(1, math.ceil(int(ttl_ms) / 1000)), buckets[int(over) - 1])


def hit(bucket: str, ident: str, setting: str) -> None:
    """Count one request for ``ident`` in ``bucket``; raise RateLimited past the configured rate."""
    hit_many([(bucket, ident, setting)])


def reset_all() -> None:
    """Forget every counter (tests)."""
    client = _redis()
    for key in client.scan_iter(match=KEY_PREFIX + "*", count=500):
        client.delete(key)
