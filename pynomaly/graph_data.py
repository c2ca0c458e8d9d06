"""Graph datasets: a nodes table and an edges table, read safely and checked.

A graph arrives as two tables — nodes (an id column plus feature columns) and edges
(source, target, optional weight) — as two files, one zip archive holding ``nodes.*`` and
``edges.*``, or a whitespace-separated edge list (``.edgelist``/``.edges``) beside a nodes
file. Every table goes through :func:`pynomaly.data.load` with its size limits; the zip's
declared member sizes are checked before a byte is inflated. The graph is then checked as a
graph (:func:`build_graph`): duplicate node ids, edges to unknown nodes (dangling), self-loops
and repeated edges are refused with counts and examples, so a user learns what to fix instead
of getting a detector trained on a silently repaired graph. Edges are undirected: ``a–b`` and
``b–a`` are the same edge and are both kept in ``edge_index`` (PyOD's models read the
adjacency row by row).

Like :mod:`pynomaly.ingest`, :func:`convert_graph_upload` and :func:`check_graph_upload` run
inside :mod:`pynomaly.sandbox` on uploads, under OS memory and CPU limits.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import data as engine
from .errors import DataError, LimitExceeded

__all__ = [
    "EDGE_LIST_SUFFIXES",
    "GraphData",
    "GraphLimits",
    "build_graph",
    "load_graph",
    "pack_upload",
]

EDGE_LIST_SUFFIXES = (".edgelist", ".edges", ".el")
_ID_NAMES = ("id", "node", "node_id", "name", "key")
_EDGE_NAMES = (("source", "target"), ("src", "dst"), ("from", "to"), ("u", "v"), ("a", "b"))
_WEIGHT_NAMES = ("weight", "w", "value")
_EXAMPLES = 3
# A zip's members may inflate this many times their stored size, no more (a zip bomb).
_MAX_RATIO = 200


@dataclass(frozen=True)
class GraphLimits:
    """Bounds of a graph. Defaults keep a dense n x n adjacency (what PyOD's autoencoders
    build) within a few hundred MB: 5,000 nodes are 100 MB per float32 matrix."""

    max_nodes: int = 5_000
    max_edges: int = 200_000


@dataclass
class GraphData:
    """A checked graph.

    Attributes
    ----------
    nodes : DataFrame
        The nodes table as uploaded (id column included), row ``i`` is node ``i``.
    edges : DataFrame
        ``source``, ``target`` (node ids as text) and ``weight`` when given, one row per edge.
    id_column : str
    edge_index : ndarray of shape (2, 2 * n_edges)
        Node positions, both directions of every undirected edge.
    warnings : list of str
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    id_column: str
    edge_index: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def degrees(self) -> np.ndarray:
        return np.bincount(self.edge_index[0], minlength=self.n_nodes)

    def stats(self) -> dict[str, Any]:
        """Counts and degree statistics, shown on the dataset's page."""
        degree = self.degrees()
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "id_column": self.id_column,
            "weighted": "weight" in self.edges.columns,
            "degree": {
                "min": int(degree.min()) if len(degree) else 0,
                "mean": float(degree.mean()) if len(degree) else 0.0,
                "median": float(np.median(degree)) if len(degree) else 0.0,
                "max": int(degree.max()) if len(degree) else 0,
                "isolated": int((degree == 0).sum()),
            },
            "density": (2 * self.n_edges / (self.n_nodes * (self.n_nodes - 1)))
            if self.n_nodes > 1
            else 0.0,
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------ the checks


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def _ids(series: pd.Series) -> pd.Series:
    """Node ids as text, so 7, 7.0 and "7" name the same node."""
    if pd.api.types.is_float_dtype(series) and series.dropna().map(float.is_integer).all():
        series = series.astype("Int64")
    return series.astype("string").str.strip()


def _pairs(frame: pd.DataFrame, a: str, b: str, n: int = _EXAMPLES) -> str:
    rows = frame.head(n)
    return ", ".join(f"{s}–{t}" for s, t in zip(rows[a], rows[b], strict=True))


def build_graph(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    id_column: str | None = None,
    limits: GraphLimits = GraphLimits(),  # noqa: B008 - frozen
) -> GraphData:
    """Check ``nodes`` and ``edges`` as one graph; refuse what a detector would misread.

    Raises
    ------
    DataError
        No id column, duplicate or missing node ids, fewer than two edge columns, edges to
        unknown nodes, self-loops or repeated edges (each with counts and examples).
    LimitExceeded
        More nodes or edges than ``limits``.
    """
    columns = [str(c) for c in nodes.columns]
    id_column = id_column or _find(columns, _ID_NAMES) or (columns[0] if columns else None)
    if id_column is None or id_column not in columns:
        raise DataError(f"the nodes table has no id column {id_column!r}")
    if len(nodes) > limits.max_nodes:
        raise LimitExceeded(
            f"the graph has {len(nodes):,} nodes; the limit is {limits.max_nodes:,}"
        )
    if len(edges) > limits.max_edges:
        raise LimitExceeded(
            f"the graph has {len(edges):,} edges; the limit is {limits.max_edges:,}"
        )
    ids = _ids(nodes[id_column])
    if ids.isna().any():
        raise DataError(f"{int(ids.isna().sum())} nodes have no id (column {id_column!r})")
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        examples = ", ".join(repeated.drop_duplicates().head(_EXAMPLES))
        raise DataError(
            f"{int(ids.duplicated().sum())} node ids are repeated in column {id_column!r} "
            f"(e.g. {examples}); every node needs its own id"
        )
    edge_cols = [str(c) for c in edges.columns]
    source, target = next(
        (
            (s, t)
            for names in _EDGE_NAMES
            if (s := _find(edge_cols, names[:1])) and (t := _find(edge_cols, names[1:]))
        ),
        (edge_cols[0], edge_cols[1]) if len(edge_cols) >= 2 else (None, None),
    )
    if source is None or target is None:
        raise DataError("the edges table needs two columns: source and target node ids")
    frame = pd.DataFrame({"source": _ids(edges[source]), "target": _ids(edges[target])})
    weight = _find([c for c in edge_cols if c not in (source, target)], _WEIGHT_NAMES)
    warnings: list[str] = []
    if weight is not None:
        values = pd.to_numeric(edges[weight], errors="coerce")
        if values.isna().any() or not np.isfinite(values.to_numpy(dtype=float)).all():
            raise DataError(f"edge weights (column {weight!r}) must all be finite numbers")
        frame["weight"] = values.to_numpy(dtype=np.float64)
        warnings.append(
            "Edge weights are kept with the graph; PyOD's graph detectors read the "
            "unweighted structure."
        )
    missing_end = frame["source"].isna() | frame["target"].isna()
    if missing_end.any():
        raise DataError(f"{int(missing_end.sum())} edges lack a source or target id")
    known = pd.Index(ids)
    dangling = ~(frame["source"].isin(known) & frame["target"].isin(known))
    if dangling.any():
        bad = frame[dangling]
        unknown = pd.unique(pd.concat([bad["source"], bad["target"]]))
        unknown = [u for u in unknown if u not in known][:_EXAMPLES]
        raise DataError(
            f"{int(dangling.sum())} edges point to nodes that are not in the nodes table "
            f"(dangling: e.g. {_pairs(bad, 'source', 'target')}; unknown ids "
            f"{', '.join(unknown)}): add those nodes or remove the edges"
        )
    loops = frame["source"] == frame["target"]
    if loops.any():
        raise DataError(
            f"{int(loops.sum())} edges are self-loops (e.g. "
            f"{_pairs(frame[loops], 'source', 'target')}): remove them"
        )
    low = frame[["source", "target"]].min(axis=1)
    high = frame[["source", "target"]].max(axis=1)
    pair = low + "\x00" + high
    twice = pair.duplicated(keep="first")
    if twice.any():
        raise DataError(
            f"{int(twice.sum())} edges repeat an earlier edge (duplicates, either direction: "
            f"e.g. {_pairs(frame[twice], 'source', 'target')}): keep each edge once"
        )
    position = pd.Series(np.arange(len(ids)), index=known)
    s = position.loc[frame["source"]].to_numpy(dtype=np.int64)
    t = position.loc[frame["target"]].to_numpy(dtype=np.int64)
    edge_index = np.vstack([np.concatenate([s, t]), np.concatenate([t, s])])
    if len(frame) == 0:
        warnings.append("The graph has no edges: only feature anomalies can be found.")
    return GraphData(nodes, frame, str(id_column), edge_index, warnings)


# ------------------------------------------------------------------ reading files


def _table_limits(limits: engine.Limits, rows: int) -> engine.Limits:
    return engine.Limits(**{**asdict(limits), "max_rows": min(limits.max_rows, rows)})


def _read_edge_list(path: Path, limits: engine.Limits) -> pd.DataFrame:
    """``u v [w]`` per line, ``#`` comments, no header."""
    if path.stat().st_size > limits.max_bytes:
        raise LimitExceeded(f"edge list is larger than {limits.max_bytes:,} bytes")
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if len(line) > limits.max_line_bytes:
                raise LimitExceeded(f"edge list line {number} is longer than the limit")
            if number > limits.max_rows + 1_000:
                raise LimitExceeded(f"edge list has more than {limits.max_rows:,} lines")
    try:
        frame = pd.read_csv(
            path, sep=r"[\s,;]+", header=None, comment="#", engine="python", dtype=str
        )
    except pd.errors.EmptyDataError:
        raise DataError("the edge list is empty") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"the edge list cannot be read: {str(exc).splitlines()[0]}") from None
    if frame.shape[1] < 2:
        raise DataError("the edge list needs two ids per line (source target [weight])")
    frame = frame.iloc[:, :3]
    frame.columns = ["source", "target", "weight"][: frame.shape[1]]
    return frame


def _read_table(path: Path, name: str, limits: engine.Limits) -> pd.DataFrame:
    if Path(name).suffix.lower() in EDGE_LIST_SUFFIXES:
        return _read_edge_list(path, limits)
    engine.check_file(path, filename=name, limits=limits)
    return engine.load(path, filename=name, limits=limits, time_column=None).frame


def _members(archive: zipfile.ZipFile, limits: engine.Limits) -> dict[str, zipfile.ZipInfo]:
    """The archive's ``nodes`` and ``edges`` members, checked from the declared sizes only."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith(("__MACOSX/", ".")):
            continue
        stem = Path(info.filename).name.rsplit(".", 1)[0].lower()
        role = "nodes" if stem in ("nodes", "node", "vertices") else None
        role = role or ("edges" if stem in ("edges", "edge", "edgelist", "links") else None)
        if role is None:
            continue
        if role in found:
            raise DataError(f"the archive holds more than one {role} file")
        if info.file_size > limits.max_bytes:
            raise LimitExceeded(
                f"{info.filename} inflates to {info.file_size:,} bytes; the limit is "
                f"{limits.max_bytes:,}"
            )
        if info.compress_size and info.file_size / info.compress_size > _MAX_RATIO:
            raise LimitExceeded(f"{info.filename} is compressed more than {_MAX_RATIO}:1")
        found[role] = info
    missing = [r for r in ("nodes", "edges") if r not in found]
    if missing:
        raise DataError(
            "a graph archive holds nodes.csv (id + features) and edges.csv (source, target); "
            f"this one has no {' and no '.join(missing)} file"
        )
    return found


def load_graph(
    nodes_path: str | os.PathLike[str],
    edges_path: str | os.PathLike[str] | None = None,
    *,
    nodes_name: str | None = None,
    edges_name: str | None = None,
    limits: engine.Limits = engine.Limits(),  # noqa: B008 - frozen
    graph_limits: GraphLimits = GraphLimits(),  # noqa: B008 - frozen
    id_column: str | None = None,
) -> GraphData:
    """Read a graph: ``nodes_path`` + ``edges_path``, or one zip archive as ``nodes_path``.

    Raises
    ------
    DataError, LimitExceeded
    """
    nodes_path = Path(nodes_path)
    if edges_path is None:
        if not zipfile.is_zipfile(nodes_path):
            raise DataError("a graph needs an edges file, or one zip archive with both tables")
        with tempfile.TemporaryDirectory(prefix="pynomaly-graph-") as tmp:
            try:
                with zipfile.ZipFile(nodes_path) as archive:
                    members = _members(archive, limits)
                    paths = {}
                    for role, info in members.items():
                        target = Path(tmp) / f"{role}{Path(info.filename).suffix.lower()}"
                        with archive.open(info) as src, open(target, "wb") as out:
                            out.write(src.read(limits.max_bytes + 1))
                        paths[role] = target
            except zipfile.BadZipFile as exc:
                raise DataError(f"the archive cannot be read: {exc}") from None
            return load_graph(
                paths["nodes"],
                paths["edges"],
                nodes_name=paths["nodes"].name,
                edges_name=paths["edges"].name,
                limits=limits,
                graph_limits=graph_limits,
                id_column=id_column,
            )
    edges_path = Path(edges_path)
    nodes_name, edges_name = nodes_name or nodes_path.name, edges_name or edges_path.name
    try:
        nodes = _read_table(nodes_path, nodes_name, _table_limits(limits, graph_limits.max_nodes))
    except (DataError, LimitExceeded) as exc:
        raise type(exc)(f"nodes file {nodes_name}: {exc}") from None
    try:
        edges = _read_table(edges_path, edges_name, _table_limits(limits, graph_limits.max_edges))
    except (DataError, LimitExceeded) as exc:
        raise type(exc)(f"edges file {edges_name}: {exc}") from None
    return build_graph(nodes, edges, id_column=id_column, limits=graph_limits)


def pack_upload(
    nodes: tuple[str, bytes | os.PathLike[str]],
    edges: tuple[str, bytes | os.PathLike[str]],
    target: str | os.PathLike[str],
) -> None:
    """Write a nodes file and an edges file into one zip archive with fixed timestamps.

    The same two files always give the same bytes, so re-uploading them is recognised as
    the same dataset version (versions are content-hashed).
    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for role, (name, content) in (("nodes", nodes), ("edges", edges)):
            suffix = Path(name).suffix.lower()
            suffix = suffix if suffix[1:].isalnum() and len(suffix) <= 10 else ".csv"
            info = zipfile.ZipInfo(f"{role}{suffix}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(content, bytes):
                archive.writestr(info, content)
            else:
                with open(content, "rb") as src, archive.open(info, "w") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)


# ------------------------------------------------------------------ sandbox entry points


def check_graph_upload(
    *, source: str, limits: dict[str, int], graph_limits: dict[str, int]
) -> dict[str, Any]:
    """Parse and check a packed graph upload (in the sandbox); its stats, or a DataError."""
    graph = load_graph(
        source, limits=engine.Limits(**limits), graph_limits=GraphLimits(**graph_limits)
    )
    return graph.stats()


def convert_graph_upload(
    *,
    source: str,
    target: str,
    edges_target: str,
    limits: dict[str, int],
    graph_limits: dict[str, int],
) -> dict[str, Any]:
    """Read a packed graph upload, write nodes and edges as Parquet; shape, schema, profile."""
    from .ingest import arrow_safe
    from .profile import profile_frame

    graph = load_graph(
        source, limits=engine.Limits(**limits), graph_limits=GraphLimits(**graph_limits)
    )
    nodes = arrow_safe(graph.nodes)
    engine.write_parquet(nodes, target)
    engine.write_parquet(graph.edges, edges_target)
    profile = profile_frame(nodes, time_column=None)
    profile["loader_warnings"] = list(graph.warnings)
    return {
        "rows": int(nodes.shape[0]),
        "columns": int(nodes.shape[1]),
        "schema": [{"name": str(c), "dtype": str(nodes[c].dtype)} for c in nodes.columns],
        "profile": profile,
        "time_column": "",
        "graph": graph.stats(),
    }


def read_graph(
    nodes_parquet: str | os.PathLike[str], edges_parquet: str | os.PathLike[str], *, id_column: str
) -> GraphData:
    """A stored graph (the canonical Parquet pair) back as :class:`GraphData`."""
    nodes = engine.read_parquet(nodes_parquet)
    edges = engine.read_parquet(edges_parquet)
    return build_graph(nodes, edges, id_column=id_column, limits=GraphLimits(10**9, 10**9))
