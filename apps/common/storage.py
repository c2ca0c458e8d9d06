"""Stored files: a path on local disk for the engine (pyarrow, skops), content keys for
caches, and quiet deletion. Every stored file is reached through these or ``storage.open()``:
the default storage may be a disk (``MEDIA_ROOT``) or an S3 bucket (``STORAGE_S3_BUCKET``)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# A remote file's content key is remembered this long: one page asks for the same few files'
# keys dozens of times, each a HEAD request otherwise. Stored names are never reused while
# their file exists (no overwriting), so the key can only be stale if a file is deleted and
# another saved under its name within this window.
REMOTE_KEY_SECONDS = 2.0
_remote_keys: dict[tuple, tuple[float, tuple]] = {}
_remote_keys_lock = threading.Lock()


def delete_files(names: Iterable[str], storage=None) -> None:
    """Delete stored files (default storage unless given), after the rows that named them.

    A missing or unreachable file is logged, never raised: the deletion it follows is
    committed already and must not look failed to the user.
    """
    if storage is None:
        from django.core.files.storage import default_storage

        storage = default_storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            log.warning("could not delete stored file %s", name, exc_info=True)


@contextmanager
def local_path(field_file) -> Iterator[Path]:
    """The file itself on disk storage; on remote storage a temporary copy, removed afterwards."""
    with stored_path(field_file.name, field_file.storage) as path:
        yield path


@contextmanager
def stored_path(name: str, storage=None) -> Iterator[Path]:
    """:func:`local_path` for a stored file's name (default storage unless given)."""
    if storage is None:
        from django.core.files.storage import default_storage

        storage = default_storage
    try:
        path = storage.path(name)
    except NotImplementedError:  # storages without a filesystem (S3 and the like)
        path = None
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="pynomaly-") as tmp:
        target = Path(tmp) / Path(name).name  # keep the name: some readers check the suffix
        with storage.open(name, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target


def content_key(name: str, storage=None) -> tuple:
    """What identifies one stored file's content, for cache keys (FileNotFoundError if missing).

    On disk the path, mtime and size; on S3 the name, ETag and size (one HEAD request, no
    download, remembered for ``REMOTE_KEY_SECONDS``); elsewhere the name and size. Never a
    temporary copy's path: it changes.
    """
    if storage is None:
        from django.core.files.storage import default_storage

        storage = default_storage
    try:
        path = storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        st = os.stat(path)
        return (path, st.st_mtime_ns, st.st_size)
    where = (type(storage).__name__, getattr(storage, "bucket_name", ""), name)
    now = time.monotonic()
    with _remote_keys_lock:
        known = _remote_keys.get(where)
    if known is not None and known[0] > now:
        return known[1]
    fh = storage.open(name, "rb")  # S3: loads the object's metadata, not its bytes
    try:
        obj = getattr(fh, "obj", None)  # django-storages' S3File
        key = (name, obj.e_tag, obj.content_length) if obj is not None else (name, fh.size)
    finally:
        fh.close()
    with _remote_keys_lock:
        if len(_remote_keys) > 4096:
            _remote_keys.clear()
        _remote_keys[where] = (now + REMOTE_KEY_SECONDS, key)
    return key


class LocalCopies:
    """This process's copies of remote stored files, for readers that reopen a file often
    (the results pages' Parquet reads): one download per content, the least recently used
    copies removed beyond ``max_bytes``. Copies live in a temporary folder of the process's
    own, removed when it exits."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: OrderedDict[tuple, tuple[Path, int]] = OrderedDict()
        self._bytes = 0
        self._pid = 0
        self._dir: Path | None = None

    def _folder(self) -> Path:
        if self._pid != os.getpid() or self._dir is None:  # a forked child starts its own
            self._files.clear()
            self._bytes, self._pid = 0, os.getpid()
            self._dir = Path(tempfile.mkdtemp(prefix="pynomaly-copies-"))
            atexit.register(shutil.rmtree, self._dir, True)
        return self._dir

    def open(self, name: str, storage, opener: Callable[[str], Any]) -> Any:
        """``opener(path)`` of a local copy of the stored file (FileNotFoundError if missing).

        The copy is opened under the lock: a copy removed afterwards stays readable to
        whoever holds it open.
        """
        key = content_key(name, storage)
        with self._lock:
            known = self._files.get(key)
            if known is not None and known[0].exists():
                self._files.move_to_end(key)
                return opener(str(known[0]))
            folder = self._folder()
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=Path(name).suffix)
        try:
            with os.fdopen(fd, "wb") as dst, storage.open(name, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        size = Path(tmp).stat().st_size
        with self._lock:
            known = self._files.get(key)
            if known is not None:  # another thread fetched it meanwhile
                Path(tmp).unlink(missing_ok=True)
                return opener(str(known[0]))
            self._files[key] = (Path(tmp), size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._files) > 1:
                _, (old, old_size) = self._files.popitem(last=False)
                old.unlink(missing_ok=True)
                self._bytes -= old_size
            return opener(tmp)


_copies: LocalCopies | None = None


def open_copy(name: str, storage, opener: Callable[[str], Any]) -> Any:
    """``opener(path)`` of a stored file for a reader that reopens it often: the file itself
    on disk storage, else this process's local copy (:class:`LocalCopies`, up to
    ``STORAGE_S3_LOCAL_COPIES_MB``). FileNotFoundError if it is missing."""
    global _copies
    try:
        path = storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        return opener(path)
    if _copies is None:
        from django.conf import settings

        _copies = LocalCopies(max_bytes=settings.STORAGE_S3_LOCAL_COPIES_MB * 1024 * 1024)
    return _copies.open(name, storage, opener)


def delete_folder(prefix: str, storage=None) -> None:
    """Delete every stored file directly under ``prefix`` (and the folder, on disk storage)."""
    if storage is None:
        from django.core.files.storage import default_storage

        storage = default_storage
    try:
        _, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    except Exception:
        log.warning("could not list stored folder %s", prefix, exc_info=True)
        return
    delete_files([f"{prefix}/{name}" for name in files], storage)
    try:
        Path(storage.path(prefix)).rmdir()
    except (NotImplementedError, OSError):
        pass
