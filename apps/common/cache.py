"""A two-level cache for expensive reads that many requests repeat (figure data).

Level 1 is an LRU in the process (no network, bounded by bytes); level 2 is Django's default
cache, Redis (``REDIS_URL``), shared by every web process on every host. A read tries the
process first, then Redis (and keeps what it found locally), then builds the value and
stores it in both. Values are bytes, ready to send.

Invalidation is by key: a caller puts into the key a version of everything the value is
built from (the results file, the saved threshold, the verdicts…), so a write that changes
any of them makes new keys and the old entries age out. ``delete`` exists for a writer that
wants the space back at once. When Redis cannot be reached the read is counted as an error
and served from the process or built: a cache never fails a request.

Every read is counted in ``pynomaly_cache_requests_total{cache, level, result}``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from django.core.cache import caches

from . import metrics

log = logging.getLogger(__name__)


class LocalLRU:
    """A thread-safe LRU of bytes values, bounded by their total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def delete(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


class TwoLevelCache:
    """``get_or_set(key, make)``: the process's LRU, then the shared cache, then ``make()``."""

    def __init__(self, name: str, *, max_bytes: int, timeout: float, alias: str = "default"):
        self.name = name
        self.local = LocalLRU(max_bytes)
        self.timeout = timeout
        self.alias = alias

    def _shared_key(self, key: str) -> str:
        return f"{self.name}:{key}"

    def get_or_set(
        self, key: str, make: Callable[[], bytes], *, timeout: float | None = None
    ) -> bytes:
        value = self.local.get(key)
        metrics.cache_read(self.name, "local", "hit" if value is not None else "miss")
        if value is not None:
            return value
        shared = caches[self.alias]
        try:
            found = shared.get(self._shared_key(key))
        except Exception:  # Redis down or unreachable: build it, never fail the request
            log.warning("cache %s: the shared level cannot be read", self.name, exc_info=True)
            metrics.cache_read(self.name, "shared", "error")
            found = None
        else:
            metrics.cache_read(self.name, "shared", "hit" if found is not None else "miss")
        if isinstance(found, bytes):
            self.local.put(key, found)
            return found
        value = make()
        try:
            shared.set(self._shared_key(key), value, self.timeout if timeout is None else timeout)
        except Exception:
            log.warning("cache %s: the shared level cannot be written", self.name, exc_info=True)
        self.local.put(key, value)
        return value

    def delete(self, key: str) -> None:
        self.local.delete(key)
        try:
            caches[self.alias].delete(self._shared_key(key))
        except Exception:
            log.warning("cache %s: cannot delete from the shared level", self.name, exc_info=True)
