"""A thread that records, every few seconds, that a claimed piece of work is still alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Calls ``beat()`` every ``every`` seconds until ``stopped`` is set (a run, an ingest).

    Another host sees from the beat that the holder lives (the same host looks at its pid);
    a failed beat is logged, never raised into the work it watches.
    """

    def __init__(self, name: str, beat: Callable[[], None], every: float):
        super().__init__(name=f"{name}-heartbeat", daemon=True)
        self.label, self.beat, self.every = name, beat, every
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                try:
                    self.beat()
                except Exception:
                    logger.warning("heartbeat of %s failed", self.label, exc_info=True)
        finally:
            connection.close()
