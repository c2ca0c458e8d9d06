"""A demo graph with planted anomalies, generated with a fixed seed (no downloads).

Communities of users (a stochastic block model: dense inside a community, sparse between)
whose features follow their community's profile. Two kinds of anomalies are planted, as in
the graph anomaly detection literature (BOND, PyGOD's ``gen_contextual_outlier`` and
``gen_structural_outlier``):

* structural: small groups of nodes from different communities joined into dense cliques;
* contextual: nodes whose features are replaced by those of a far-away node.

``is_anomaly`` (1 = planted) lets a run be evaluated; :func:`planted_kinds` says which kind
(kept out of the nodes table: a text column would be a feature that gives the answer away).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def social_graph(
    *,
    seed: int = 5,
    nodes: int = 600,
    communities: int = 6,
    p_in: float = 0.06,
    p_out: float = 0.004,
    cliques: int = 3,
    clique_size: int = 8,
    contextual: int = 15,
    features: int = 6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(nodes, edges)``: ``nodes`` has ``id``, ``f0``… and ``is_anomaly``."""
    rng = np.random.default_rng(seed)
    community = rng.integers(0, communities, size=nodes)
    centres = rng.normal(0, 3, size=(communities, features))
    X = centres[community] + rng.normal(0, 1, size=(nodes, features))
    same = community[:, None] == community[None, :]
    upper = np.triu(rng.random((nodes, nodes)) < np.where(same, p_in, p_out), k=1)
    kind = np.array([""] * nodes, dtype=object)
    chosen = rng.choice(nodes, size=cliques * clique_size + contextual, replace=False)
    for c in range(cliques):
        members = np.sort(chosen[c * clique_size : (c + 1) * clique_size])
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                upper[a, b] = True
        kind[members] = "structural"
    for node in chosen[cliques * clique_size :]:
        # Features of the most distant of 50 random nodes (PyGOD's contextual outliers).
        candidates = rng.choice(nodes, size=50, replace=False)
        far = candidates[np.argmax(np.linalg.norm(X[candidates] - X[node], axis=1))]
        X[node] = X[far]
        kind[node] = "contextual" if kind[node] == "" else kind[node]
    source, target = np.nonzero(upper)
    ids = np.array([f"u{i:04d}" for i in range(nodes)])
    nodes_frame = pd.DataFrame({"id": ids})
    for j in range(features):
        nodes_frame[f"f{j}"] = np.round(X[:, j], 4)
    nodes_frame["is_anomaly"] = (kind != "").astype(np.int8)
    edges_frame = pd.DataFrame({"source": ids[source], "target": ids[target]})
    nodes_frame.attrs["anomaly_kind"] = np.where(kind == "", "normal", kind).tolist()
    return nodes_frame, edges_frame


def planted_kinds(nodes: pd.DataFrame) -> list[str]:
    """Per node of :func:`social_graph`'s table: normal, structural or contextual."""
    return list(nodes.attrs["anomaly_kind"])
