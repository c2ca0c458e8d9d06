"""``pynomaly detect NODES --edges EDGES -d DOMINANT``: graph anomaly detection on local files.

The nodes file (id + feature columns) and the edges file (source, target, optional weight;
CSV or an edge list) are read and checked exactly as an upload is (:mod:`pynomaly.graph_data`),
the detector is one of the catalogue's graph family, and the output is one row per node:
``node_id, score, label, severity`` plus the score parts and the reason where the detector
separates them. ``-o model.pt``-style saving is done with ``--save-model``.
"""

from __future__ import annotations

import argparse
import time

from pynomaly.cli_output import EXIT_OK, UsageError, _num, _say


def add_graph_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("graph (DATA is then the nodes file)")
    g.add_argument(
        "--edges",
        metavar="FILE",
        help="edges file (source, target[, weight]): DATA holds the nodes (id + features); "
        "use a graph detector, e.g. -d dominant",
    )
    # --id-column (the nodes' id column; default: id/node/first) is the detect command's own,
    # shared with time series (pynomaly.cli)
    g.add_argument("--save-model", metavar="FILE", help="save the trained graph model (.pt)")


def cmd_detect_graph(args: argparse.Namespace) -> int:
    from pynomaly import graph, graph_data
    from pynomaly.catalogue import get_detector
    from pynomaly.cli_local import _config
    from pynomaly.cli_output import Progress, _check_output_path
    from pynomaly.evaluate import evaluate
    from pynomaly.graph_catalogue import estimate_graph, is_graph_key, weak_warning

    _check_output_path(args.output)
    keys = [get_detector(k).key for k in (args.detectors or ["dominant"])]
    if len(keys) != 1 or not is_graph_key(keys[0]):
        raise UsageError(
            "--edges needs one graph detector: -d dominant, cola, guide, anomalydae, conad, "
            "radar, anomalous or scan_graph"
        )
    args.detectors = keys
    config = _config(args)
    key, params = config.detectors[0]
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = graph_data.load_graph(args.data, args.edges, id_column=args.id_column)
    labels = None
    if args.label_column:
        if args.label_column not in loaded.nodes.columns:
            raise UsageError(f"label column {args.label_column!r} is not in the nodes file")
        labels = loaded.nodes[args.label_column].to_numpy()
        loaded.nodes = loaded.nodes.drop(columns=[args.label_column])
    drop = [c for c in config.exclude_columns if c in loaded.nodes.columns]
    loaded.nodes = loaded.nodes.drop(columns=drop)
    graph.check_features(loaded)
    seconds["load"] = time.perf_counter() - t0
    for text in [
        *(w for w in [weak_warning(key)] if w),
        *estimate_graph(
            nodes=loaded.n_nodes, edges=loaded.n_edges, key=key, params=params
        ).warnings,
    ]:
        _say(args, f"warning: {text}")
    progress = Progress(not args.quiet)
    t0 = time.perf_counter()
    try:
        fitted, result = graph.fit_graph(
            loaded,
            key,
            params,
            threshold=config.threshold,
            prepare=config.prepare,
            seed=config.seed,
            progress=progress,
            on_epoch=progress.epoch,
        )
    finally:
        progress.close()
    seconds["fit+score"] = time.perf_counter() - t0
    frame = graph.node_frame(result, loaded)
    if args.output:
        try:
            if args.output.lower().endswith((".parquet", ".pq")):
                frame.to_parquet(args.output, index=False)
            else:
                frame.to_csv(
                    args.output, index=False, sep="\t" if args.output.endswith(".tsv") else ","
                )
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if args.save_model:
        sha = graph.save(fitted, args.save_model)
        _say(args, f"model saved to {args.save_model} (sha256 {sha})")
    if not args.quiet:
        flagged = int(result.labels.sum())
        print(
            f"nodes {loaded.n_nodes:,}   edges {loaded.n_edges:,}   anomalies {flagged:,} "
            f"({flagged / max(loaded.n_nodes, 1):.2%})   threshold {_num(result.threshold)}"
        )
        if labels is not None:
            m = evaluate(labels, result.scores, result.labels)
            print(
                f"vs labels: ROC-AUC {_num(m['roc_auc'])}   average precision "
                f"{_num(m['average_precision'])}   F1 {_num(m['f1'])}"
            )
        top = frame.sort_values("score", ascending=False, kind="stable").head(5)
        reason = "reason" in frame.columns
        print(
            "top nodes: "
            + "   ".join(
                f"{r.node_id} {_num(float(r.score))}" + (f" ({r.reason})" if reason else "")
                for r in top.itertuples()
            )
        )
        print("time: " + "   ".join(f"{k} {v:.2f}s" for k, v in seconds.items()))
        if args.output:
            print(f"node scores written to {args.output}")
    return EXIT_OK
