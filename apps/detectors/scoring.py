"""Online scoring: trained models loaded once per process, kept warm, scored per request.

A model is read with ``pynomaly.persist.load`` (checksum from the row, skops allowlist)
the first time it is asked for, warmed (HBOS's numba code compiles then, not on a
user's request), and kept in a small LRU keyed by ``(model.pk, model.sha256)``: a
replaced artifact has a new digest, so the stale entry simply falls out.

The scoring itself, and its fast paths, are the engine's (:mod:`pynomaly.fastscore`,
the same code the CLI and the worker score through); this module only keeps the
warm models. ECOD and COPOD score a request's records as one batch (see there).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from django.conf import settings

from apps.common.storage import local_path
from pynomaly.errors import DataError, LimitExceeded
from pynomaly.fastscore import RecordScorer

from .models import TrainedModel

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 8
DEFAULT_MAX_RECORDS = 100_000


class ModelCache:
    """Bounded, thread-safe LRU of warm models; one load per key even under concurrency."""

    def __init__(self, size: int | None = None):
        self._size = size
        self._items: OrderedDict[tuple[int, str], RecordScorer] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self.loads = 0  # how many times an artifact was read (tests and metrics)

    @property
    def size(self) -> int:
        size = (
            self._size
            if self._size is not None
            else getattr(settings, "SCORING_CACHE_SIZE", DEFAULT_CACHE_SIZE)
        )
        return max(1, int(size))

    def get(self, model: TrainedModel) -> RecordScorer:
        key = (model.pk, model.sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a second request for the same model waits for the first load
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            warm = _load_warm(model)
            with self._lock:
                self.loads += 1
                # a changed artifact of the same model replaces the old entry at once
                for stale in [k for k in self._items if k[0] == model.pk]:
                    del self._items[stale]
                self._items[key] = warm
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return warm

    def __contains__(self, model: TrainedModel) -> bool:
        with self._lock:
            return (model.pk, model.sha256) in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.loads = 0


cache = ModelCache()


def score_records(*, model: TrainedModel, records: list[dict]) -> dict:
    """Score ``records`` (dicts keyed by input column) with ``model``; plain lists back.

    Raises ``pynomaly.errors.DataError`` for unusable records (naming the column) and
    ``ArtifactError`` when the stored artifact fails its checksum.
    """
    limit = getattr(settings, "SCORING_MAX_RECORDS", DEFAULT_MAX_RECORDS)
    if not isinstance(records, list) or not records:
        raise DataError("records must be a non-empty list of objects")
    if len(records) > limit:
        raise LimitExceeded(f"at most {limit:,} records per request; got {len(records):,}")
    result = cache.get(model).score(records)
    return {
        "scores": result.scores.tolist(),
        "labels": result.labels.astype(int).tolist(),
        "severity": result.severity.tolist(),
        "threshold": float(result.threshold),
    }


def _load_warm(model: TrainedModel) -> RecordScorer:
    from pynomaly import persist

    with local_path(model.artifact) as path:
        fitted = persist.load(path, sha256=model.sha256)
    scorer = fitted.scorer(model.input_columns or None)
    scorer.warm()
    logger.info("model %s loaded for scoring (%s)", model.pk, ", ".join(fitted.keys))
    return scorer
