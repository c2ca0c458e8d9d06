"""Rate limits per token, per client IP and for unauthenticated callers, counted in Redis.

A fixed window per key: one Lua script INCRements the counter and sets its expiry on the
first hit, atomically, so 50 simultaneous requests against a limit of 20 let exactly 20
through however the web processes interleave. Over the limit the API answers 429 with
``Retry-After`` (the seconds until the window resets).

Rates read like ``"600/min"``: a count, then a window of ``s``/``sec``/``m``/``min``/``h``/
``hour``/``d``/``day``, optionally with a multiplier (``"5/15min"``).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

KEY_PREFIX = "pynomaly:api:rl:"
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")

# KEYS[1] counter; ARGV[1] window in ms. Returns {count, ms until reset}.
_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""

DEFAULTS = {"API_RATE_PER_TOKEN": "600/min", "API_RATE_PER_IP": "1200/min", "API_RATE_ANON": "60/min"}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


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
    import redis

    url = settings.REDIS_URL
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            client._pyn_script = client.register_script(_SCRIPT)
    return client


def hit(bucket: str, ident: str, setting: str) -> None:
    """Count one request for ``ident`` in ``bucket``; raise RateLimited past the configured rate."""
    rate = parse_rate(getattr(settings, setting, DEFAULTS[setting]))
    if rate is None:
        return
    key = f"{KEY_PREFIX}{bucket}:{ident}"
    try:
        client = _redis()
        count, ttl_ms = client._pyn_script(keys=[key], args=[rate.seconds * 1000])
    except Exception:  # noqa: BLE001 - a Redis outage must not take the API down with it
        log.warning("rate limiter unavailable; request allowed", exc_info=True)
        return
    if int(count) > rate.count:
        raise RateLimited(max(1, math.ceil(int(ttl_ms) / 1000)), bucket)


def reset_all() -> None:
    """Forget every counter (tests)."""
    client = _redis()
    for key in client.scan_iter(match=KEY_PREFIX + "*", count=500):
        client.delete(key)
