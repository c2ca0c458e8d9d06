"""Stored files: a path on local disk for the engine (pyarrow, skops), content keys for
caches, and quiet deletion. Every stored file is reached through these or ``storage.open()``:
the default storage may be a disk (``MEDIA_ROOT``) or an S3 bucket (``STORAGE_S3_BUCKET``)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


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
    download); elsewhere the name and size. Never a temporary copy's path: it changes.
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
    fh = storage.open(name, "rb")  # S3: loads the object's metadata, not its bytes
    try:
        obj = getattr(fh, "obj", None)  # django-storages' S3File
        if obj is not None:
            return (name, obj.e_tag, obj.content_length)
        return (name, fh.size)
    finally:
        fh.close()


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
