"""Graph uploads: a nodes file and an edges file (or one zip of both) become one upload.

The two files are packed into a zip with fixed timestamps (``pynomaly.graph_data.pack_upload``),
so a graph is stored, hashed, versioned and ingested like any single file. Unlike a table,
a graph is parsed and checked as a graph *before* it is accepted — in the sandbox, under the
same OS limits as an ingest, and bounded by the graph limits (a few thousand nodes) — so an
edge to an unknown node, a self-loop or a repeated edge is refused with a 4xx and its counts
instead of failing later in the background.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from pynomaly.errors import DataError, LimitExceeded
from pynomaly.graph_data import GraphLimits, pack_upload
from pynomaly.sandbox import run_limited

from .uploads import (
    UploadRefused,
    check_limits,
    clean_filename,
    max_upload_bytes,
    too_large_message,
)

FORMAT = "graph"


def graph_limits() -> GraphLimits:
    return GraphLimits(
        max_nodes=settings.PYNOMALY_GRAPH_MAX_NODES, max_edges=settings.PYNOMALY_GRAPH_MAX_EDGES
    )


def is_graph_upload(filename: str, path: Path, edges_file) -> bool:
    """Two files, or one ``.zip`` archive (an .xlsx is a zip too, but not named so)."""
    return edges_file is not None or (
        filename.lower().endswith(".zip") and zipfile.is_zipfile(path)
    )


def graph_name(nodes_name: str, edges_name: str | None) -> str:
    """The upload's name: the nodes file's, as a zip (``nodes.csv`` → ``nodes.zip``)."""
    if edges_name is None:
        return nodes_name
    return Path(nodes_name).stem + ".zip"


@contextmanager
def packed(nodes_path: Path, nodes_name: str, edges_file) -> Iterator[Path]:
    """The nodes file and the edges upload as one zip on local disk."""
    from .services import _upload_on_disk

    with _upload_on_disk(edges_file) as edges_path:
        size = nodes_path.stat().st_size + edges_path.stat().st_size
        if size > max_upload_bytes():
            raise UploadRefused(too_large_message(size), reason="too_large")
        fd, tmp = tempfile.mkstemp(
            prefix="pynomaly-graph-", suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR
        )
        os.close(fd)
        try:
            pack_upload(
                (nodes_name, nodes_path),
                (clean_filename(edges_file.name), edges_path),
                tmp,
            )
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _limits() -> dict[str, Any]:
    return {
        "limits": dataclasses.asdict(check_limits()),
        "graph_limits": dataclasses.asdict(graph_limits()),
    }


def check_graph(path: Path, filename: str) -> dict[str, Any]:
    """Parse and check the packed graph in the sandbox; its stats, or ``UploadRefused``."""
    from .services import parse_limits

    if path.stat().st_size == 0:
        raise UploadRefused(f"{filename} is empty.", reason="empty")
    try:
        return run_limited(
            "pynomaly.graph_data:check_graph_upload",
            {"source": str(path), **_limits()},
            parse_limits(),
        )
    except LimitExceeded as exc:
        raise UploadRefused(f"{filename} is too large to use: {exc}.", reason="limit") from None
    except DataError as exc:
        raise UploadRefused(
            f"{filename} cannot be used as a graph: {exc}.", reason="graph"
        ) from None


def convert(source: Path, nodes_target: Path, edges_target: Path) -> dict[str, Any]:
    """Ingest: nodes and edges Parquet written by the sandbox; the version's fields."""
    from .services import parse_limits

    fields = run_limited(
        "pynomaly.graph_data:convert_graph_upload",
        {
            "source": str(source),
            "target": str(nodes_target),
            "edges_target": str(edges_target),
            **_limits(),
        },
        parse_limits(),
    )
    fields["kind"] = "graph"
    return fields
