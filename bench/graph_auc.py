"""ROC-AUC and time of each graph detector on the demo graph (planted anomalies).

    PYTHONPATH=. .venv/bin/python -m bench.graph_auc [--epochs 100] [KEY ...]

Measured 2026-12-02 on a loaded 2-core machine (PyOD defaults, 100 epochs, seed 42):
DOMINANT 0.796 (8.6 s), CoLA 0.720 (32 s), AnomalyDAE 0.642 (79 s), GUIDE 0.845 (74 s),
CONAD 0.758 (191 s), Radar 0.475 (112 s), ANOMALOUS 0.174 (24 s), SCAN 0.150 (0.2 s).
"""

from __future__ import annotations

import argparse
import time

from sklearn.metrics import roc_auc_score

from pynomaly import graph
from pynomaly.graph_catalogue import MODELS
from pynomaly.graph_data import build_graph
from pynomaly.graph_demo import social_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keys", nargs="*", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    nodes, edges = social_graph()
    g = build_graph(nodes.drop(columns=["is_anomaly"]), edges)
    y = nodes["is_anomaly"].to_numpy()
    print(f"demo graph: {g.n_nodes} nodes, {g.n_edges} edges, {int(y.sum())} planted anomalies")
    for key in args.keys:
        params = {"epochs": args.epochs} if MODELS[key].factory else {}
        started = time.perf_counter()
        _, result = graph.fit_graph(g, key, params)
        auc = roc_auc_score(y, result.scores)
        print(
            f"{MODELS[key].class_name:<11} ROC-AUC {auc:.3f}   {time.perf_counter() - started:6.1f} s"
        )


if __name__ == "__main__":
    main()
