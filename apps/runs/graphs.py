"""Runs on graph datasets: the start rules, the execution and what the results page adds.

A graph run scores nodes: the dataset version's nodes table is the "rows" every results
view already reads (the anomalies table, the row page, downloads), the edges come from the
version's edges Parquet, and the detector is one of the catalogue's graph family
(:mod:`pynomaly.graph`). The score parts the detector keeps apart (structure, feature, …)
are stored as the results' contributions, so "why flagged" names them.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.core.files import File

from apps.common.storage import local_path
from apps.datasets.models import DatasetVersion
from apps.detectors.models import DetectorConfigVersion
from pynomaly.cost import CostEstimate
from pynomaly.graph_catalogue import estimate_graph, is_graph_key, weak_warning

from . import services
from .models import Run

logger = logging.getLogger(__name__)


def _keys(pipeline: dict) -> list[str]:
    return [
        item["key"] if isinstance(item, dict) else item[0] for item in pipeline.get("detectors", [])
    ]


def _params(pipeline: dict) -> dict:
    item = (pipeline.get("detectors") or [{}])[0]
    return dict(item.get("params") or {}) if isinstance(item, dict) else dict(item[1] or {})


def is_graph_pipeline(pipeline: dict) -> bool:
    return any(is_graph_key(k) for k in _keys(pipeline))


def graph_errors(
    version: DatasetVersion, detector_version: DetectorConfigVersion
) -> list[tuple[str, str]]:
    """A graph detector needs a graph dataset and the other way round; one detector at a time."""
    keys = _keys(detector_version.pipeline)
    graph_keys = [k for k in keys if is_graph_key(k)]
    if version.is_graph and len(graph_keys) != len(keys):
        return [
            (
                "detector",
                "This dataset is a graph: choose a configuration with a graph detector "
                "(DOMINANT, CoLA, GUIDE, AnomalyDAE, CONAD, …).",
            )
        ]
    if not version.is_graph and graph_keys:
        return [
            (
                "detector",
                "Graph detectors score the nodes of a graph: upload nodes and edges as a "
                "graph dataset, or choose a detector for tables.",
            )
        ]
    if version.is_graph and len(keys) > 1:
        return [("detector", "A graph run uses one graph detector (ensembles are for tables).")]
    return []


def first_graph_config(configs):
    """The first configuration (by name) whose current version runs a graph detector."""
    for config in configs.order_by("name"):
        current = config.current
        if current is not None and is_graph_pipeline(current.pipeline):
            return config.pk
    return None


def graph_cost(version: DatasetVersion, pipeline: dict) -> CostEstimate:
    keys = _keys(pipeline)
    return estimate_graph(
        nodes=int(version.graph.get("nodes") or version.rows),
        edges=int(version.graph.get("edges") or 0),
        key=keys[0] if keys else "",
        params=_params(pipeline),
    )


def warnings_for(pipeline: dict) -> list[str]:
    """What the run page says about a weak graph detector (measured)."""
    return [w for k in _keys(pipeline) if (w := weak_warning(k))]


def execute(execution) -> None:
    """The graph run of ``execution`` (a ``tasks._Execution``): load, fit, score, write."""
    from pynomaly import detect, graph, graph_data
    from pynomaly.errors import ArtifactError, Cancelled
    from pynomaly.evaluate import evaluate
    from pynomaly.pipeline import PipelineConfig

    from .tasks import jsonable

    run = execution.run
    version = run.dataset_version
    pipeline = run.detector_version.pipeline
    config = PipelineConfig.from_dict(pipeline)
    key, params = config.detectors[0]
    label_column = run.label_column or None
    id_column = version.graph.get("id_column") or "id"
    execution.progress(Run.Stage.LOADING, 0, 1)
    with local_path(version.parquet) as nodes_path, local_path(version.edges) as edges_path:
        loaded = graph_data.read_graph(nodes_path, edges_path, id_column=id_column)
    y_true = None
    if label_column:
        y_true = loaded.nodes[label_column].to_numpy()
        loaded.nodes = loaded.nodes.drop(columns=[label_column])
    excluded = [c for c in config.exclude_columns if c in loaded.nodes.columns]
    if excluded:
        loaded.nodes = loaded.nodes.drop(columns=excluded)
    graph.check_features(loaded)
    run.rows_total = loaded.n_nodes
    execution.progress(Run.Stage.LOADING, 1, 1)
    if execution.should_stop():
        raise Cancelled("stopped on request")
    if run.scoring_model_id is not None:
        with local_path(run.scoring_model.artifact) as path:
            fitted = graph.load(path, sha256=run.scoring_model.sha256)
        result = fitted.score(loaded)
    else:
        fitted, result = graph.fit_graph(
            loaded,
            key,
            params,
            threshold=config.threshold,
            prepare=config.prepare,
            seed=config.seed,
            progress=execution.progress,
            should_stop=execution.should_stop,
            on_epoch=execution.epoch,
        )
    execution.progress(Run.Stage.WRITING, 0, 1)
    summary = detect.summarize(result)
    summary.update(
        analysis="graph",
        feature_names=list(result.feature_names),
        has_contributions=result.contributions is not None,
        label_column=label_column,
        time_column=None,
        prepare=fitted.preparer.report,
        detectors=[fitted.key],
        fit_rows=int(fitted.n_train),
        graph={
            "nodes": loaded.n_nodes,
            "edges": loaded.n_edges,
            "id_column": id_column,
            "parts": list(fitted.parts),
            "reasons": _reason_counts(graph.reasons(result), result.labels),
        },
        explanation={
            "error": "Graph runs explain a node by its score parts "
            + (f"({', '.join(fitted.parts)})." if fitted.parts else "(this detector has one).")
        },
        warnings=warnings_for(pipeline),
    )
    metrics = evaluate(y_true, result.scores, result.labels) if y_true is not None else {}
    with tempfile.TemporaryDirectory(prefix="pynomaly-graph-run-") as tmp:
        results_path = Path(tmp) / "results.parquet"
        graph.write_results(result, loaded, results_path)
        model = None
        if run.scoring_model_id is None and fitted.saveable:
            model_path = Path(tmp) / "model.pt"
            try:
                sha256 = graph.save(fitted, model_path)
            except ArtifactError as exc:  # save refuses only detectors without a network
                logger.info("run %s: graph model not saved: %s", run.pk, exc)
            else:
                model = services.ModelArtifact(
                    path=model_path,
                    sha256=sha256,
                    feature_names=list(fitted.feature_names),
                    input_columns=list(fitted.preparer.input_columns),
                    threshold=float(fitted.threshold_),
                    suffix=".pt",
                )
        execution._enter("done")
        with open(results_path, "rb") as fh:
            services.run_succeed(
                run=run,
                results_file=File(fh),
                threshold=float(result.threshold),
                summary=jsonable(summary),
                metrics=jsonable(metrics),
                timings=execution.timings,
                model=model,
            )


def _reason_counts(reasons: list[str], labels) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason, flagged in zip(reasons, labels, strict=True):
        if flagged and reason:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


# ---------------------------------------------------------------- results page


def edge_index(run: Run):
    """The run's graph as node positions (both directions), read once per stored file."""
    import numpy as np

    from . import selectors

    version = run.dataset_version

    def load():
        id_column = version.graph.get("id_column") or "id"
        ids = selectors.read_column(version.parquet, id_column).astype(str)
        position = {v: i for i, v in enumerate(ids)}
        edges = selectors.parquet_file(version.edges).read(columns=["source", "target"])
        s = np.array([position[v] for v in edges.column("source").to_pylist()], dtype=np.int64)
        t = np.array([position[v] for v in edges.column("target").to_pylist()], dtype=np.int64)
        return np.vstack([np.concatenate([s, t]), np.concatenate([t, s])])

    return selectors.cached(("graph-edges", *selectors.file_key(version.edges)), load)


def results_context(run: Run, threshold: float | None) -> dict:
    """The graph view (Plotly) for the results page of a graph run."""
    import numpy as np

    from pynomaly import graph_view

    from . import selectors

    scores = selectors.scores(run)
    ids = selectors.read_column(run.results, "node_id")
    names = selectors.contribution_columns(run)
    reasons = None
    if names:
        _, matrix = selectors.contributions_at(run, np.arange(len(scores)))
        labels = [n.split(":", 1)[1] for n in names]
        reasons = [labels[i] for i in np.argmax(matrix, axis=1)]
    figure = graph_view.figure(
        edge_index(run), ids, scores, selectors.flags(run, threshold), reasons=reasons
    )
    return {"graph_view": figure, "graph_info": (run.summary or {}).get("graph") or {}}
