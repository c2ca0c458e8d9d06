"""Stored files for code that needs a path on local disk (the engine, pyarrow, skops)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def local_path(field_file) -> Iterator[Path]:
    """The file itself on disk storage; on remote storage a temporary copy, removed afterwards."""
    try:
        path = field_file.path
    except NotImplementedError:  # storages without a filesystem (S3 and the like)
        path = None
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="pynomaly-") as tmp:
        target = (
            Path(tmp) / Path(field_file.name).name
        )  # keep the name: some readers check the suffix
        with field_file.open("rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target
