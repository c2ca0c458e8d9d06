"""A large run's scoring spread over every Celery worker: fitted once, scored in parts.

The run's task fits as always, saves the fitted pipeline to storage (the verified skops
format, never pickle) and enqueues a Celery group of ``runs.score_part`` tasks, one per
partition of rows. The partitions end on the pipeline's scoring chunks
(:func:`pynomaly.distributed.partitions`), so every row meets the chunk it meets in one
process and the merged scores are identical to a single worker's, ECOD/COPOD included.

Each part is claimed in Redis (``cache.add``: one holder) and its claim is kept alive while
it is scored. The run's own task scores every part no one has claimed (with one worker
process it scores them all, and the queued part tasks find nothing left to do), collects the
others' pieces from storage, and merges them into the run's one results file. A part whose
holder dies stops beating; its claim lapses and the run's task scores it. Cancelling the run
stops the parts at their next chunk. Progress counts the parts' chunks; the run keeps its
one heartbeat, its claim and its recovery as before.

``RUN_FANOUT_PART_ROWS`` (rows per part; 0 turns it off) decides which runs are spread,
``RUN_FANOUT_QUEUE`` where their parts are queued (empty: the default queue).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage

from apps.common.heartbeat import Heartbeat
from apps.common.storage import delete_files, delete_folder, open_copy, stored_path

logger = logging.getLogger(__name__)

# A part's claim lives this long without a beat (its holder beats every third of it).
PART_CLAIM_SECONDS = 60
POLL_SECONDS = 0.2
# How long a finished part's marker and the spread's open marker live at most.
MARKER_SECONDS = 24 * 3600


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _new_token() -> str:
    return uuid.uuid4().hex


def _key(token: str, what: str) -> str:
    return f"fanout:{token}:{what}"


def spread_rows(n_rows: int) -> bool:
    """Whether a run of ``n_rows`` rows is scored in parts (more rows than one part)."""
    part = settings.RUN_FANOUT_PART_ROWS
    return bool(part) and n_rows > part


@dataclass
class Spread:
    """``detect(raw_scorer=Spread(execution))``: scores the frame in parts over the workers."""

    execution: object  # apps.runs.tasks._Execution (progress, should_stop, run)
    parts: int = 0
    workers: set[str] = field(default_factory=set)

    @property
    def summary(self) -> dict | None:
        if not self.parts:
            return None
        return {"parts": self.parts, "workers": len(self.workers)}

    def __call__(self, fitted, df):
        from pynomaly import distributed, persist

        ex = self.execution
        run = ex.run  # type: ignore[attr-defined]
        chunk = fitted.chunk_rows(settings.RUN_CHUNK_ROWS)
        parts = distributed.partitions(len(df), chunk, settings.RUN_FANOUT_PART_ROWS)

        def here():  # the whole frame in this process, as without a spread
            return fitted.raw_scores(
                df,
                chunk_size=settings.RUN_CHUNK_ROWS,
                progress=ex.progress,  # type: ignore[attr-defined]
                should_stop=ex.should_stop,  # type: ignore[attr-defined]
            )

        if len(parts) < 2 or not _saveable(fitted):
            return here()
        from pynomaly.errors import ArtifactError

        token = _new_token()
        prefix = f"fanout/{token}"
        try:
            with tempfile.TemporaryDirectory(prefix="pynomaly-fanout-") as tmp:
                path = Path(tmp) / "model.skops"
                try:
                    sha256 = persist.save(fitted, path)
                except ArtifactError as exc:  # the parts could not load it: score here
                    logger.info("run %s: not spread, the model cannot be saved: %s", run.pk, exc)
                    return here()
                with open(path, "rb") as fh:
                    model_name = default_storage.save(f"{prefix}/model.skops", File(fh))
            cache.set(_key(token, "open"), 1, timeout=MARKER_SECONDS)
            from celery import group

            from .tasks import score_part

            group(
                score_part.s(
                    run.pk,
                    token,
                    i,
                    p.start,
                    p.stop,
                    chunk,
                    model_name,
                    sha256,
                )  # fmt: skip
                for i, p in enumerate(parts)
            ).apply_async(queue=settings.RUN_FANOUT_QUEUE or None)
            pieces = self._collect(fitted, df, parts, chunk, token)
        finally:
            cache.delete(_key(token, "open"))
            cache.delete_many([_key(token, f"{w}{i}") for i in range(len(parts)) for w in "cd"])
            delete_folder(prefix)
        self.parts = len(parts)
        self.workers = {p.worker for p in pieces}
        return distributed.join_pieces(fitted, pieces)

    def _collect(self, fitted, df, parts, chunk, token):
        from pynomaly import distributed
        from pynomaly.errors import Cancelled

        ex = self.execution
        chunks = [math.ceil((p.stop - p.start) / chunk) for p in parts]
        total = sum(chunks)
        pieces: list = [None] * len(parts)
        done_chunks = 0
        ex.progress("scoring", 0, total)  # type: ignore[attr-defined]
        while any(p is None for p in pieces):
            moved = False
            for i, part in enumerate(parts):
                if pieces[i] is not None:
                    continue
                name = cache.get(_key(token, f"d{i}"))
                if name:
                    with default_storage.open(name, "rb") as fh:
                        pieces[i] = distributed.read_piece(
                            fh, rows=part.stop - part.start, detectors=len(fitted.keys)
                        )
                elif cache.add(_key(token, f"c{i}"), _me(), timeout=PART_CLAIM_SECONDS):
                    claim = _key(token, f"c{i}")

                    def beat(stage, done, total_, base=done_chunks, claim=claim):
                        cache.touch(claim, PART_CLAIM_SECONDS)
                        ex.progress("scoring", base + done, total)  # type: ignore[attr-defined]

                    raw, contributions = fitted.raw_scores(
                        df.iloc[part.start : part.stop],
                        chunk_size=chunk,
                        progress=beat,
                        should_stop=ex.should_stop,  # type: ignore[attr-defined]
                    )
                    pieces[i] = distributed.Piece(raw, contributions, _me())
                else:
                    continue
                moved = True
                done_chunks += chunks[i]
                ex.progress("scoring", done_chunks, total)  # type: ignore[attr-defined]
            if not moved:
                if ex.should_stop():  # type: ignore[attr-defined]
                    raise Cancelled("stopped on request")
                time.sleep(POLL_SECONDS)
        return pieces


def _saveable(fitted) -> bool:
    """Whether the parts' workers can load this pipeline (every detector has a safe format)."""
    from pynomaly import catalogue

    return all(catalogue.get_detector(key).saveable for key in fitted.keys)


@functools.lru_cache(maxsize=2)
def _model(name: str, sha256: str):
    """A worker process loads a spread's model once for all the parts it scores."""
    from pynomaly import persist

    with stored_path(name) as path:
        return persist.load(path, sha256=sha256)


def score_part(
    *,
    run_id: int,
    token: str,
    index: int,
    start: int,
    stop: int,
    chunk: int,
    model_name: str,
    sha256: str,
) -> str:
    """One part, in whichever worker took its task: what it did (for logs and tests)."""
    from pynomaly import distributed
    from pynomaly.errors import Cancelled

    from . import services
    from .models import Run

    if not cache.get(_key(token, "open")):
        return "over"  # the run's task finished (or gave up) before this part was taken
    if cache.get(_key(token, f"d{index}")):
        return "done"  # a second delivery of a part already scored
    claim = _key(token, f"c{index}")
    if not cache.add(claim, _me(), timeout=PART_CLAIM_SECONDS):
        return "taken"

    def keep_claim() -> None:
        cache.touch(claim, PART_CLAIM_SECONDS)

    beat = Heartbeat(f"part-{token}-{index}", keep_claim, PART_CLAIM_SECONDS / 3)
    beat.start()
    try:
        fitted = _model(model_name, sha256)
        version = Run.objects.select_related("dataset_version").get(pk=run_id).dataset_version
        columns = list(fitted.preparer.input_columns)
        # on remote storage one download per process serves every part it scores of this run
        df = open_copy(
            str(version.parquet.name),
            version.parquet.storage,
            lambda path: distributed.read_rows(str(path), start, stop, columns),
        )
        raw, contributions = fitted.raw_scores(
            df,
            chunk_size=chunk,
            should_stop=lambda: services.run_cancel_requested(run_id=run_id),
        )
        if not cache.get(_key(token, "open")):
            return "over"
        with tempfile.TemporaryFile() as fh:
            distributed.write_piece(fh, distributed.Piece(raw, contributions, _me()))
            fh.seek(0)
            name = default_storage.save(f"fanout/{token}/part-{index}.npz", File(fh))
        if not cache.get(_key(token, "open")):  # the run's task ended while this was saved
            delete_files([name])
            return "over"
        cache.set(_key(token, f"d{index}"), name, timeout=MARKER_SECONDS)
        return "scored"
    except Cancelled:
        cache.delete(claim)
        return "cancelled"
    except Exception:
        # the run's task sees the claim gone and scores this part itself
        logger.exception("run %s: part %s failed; the run's task scores it", run_id, index)
        cache.delete(claim)
        return "failed"
    finally:
        beat.stopped.set()
