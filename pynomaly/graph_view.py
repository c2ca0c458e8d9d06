"""The graph view of a graph run: the top anomalies and their neighbourhood, as a Plotly figure.

Plotly draws a few hundred nodes and their edges comfortably; a whole graph of thousands is
a hairball nobody reads. So the view keeps the highest-scoring flagged nodes (at most
``top``), adds their neighbours one hop out, then two hops out while the total stays under
``max_nodes``; when even one hop is too many, the neighbours with the highest scores are
kept (decimation), and the figure's title says how many of how many are shown. Positions
come from networkx's spring layout with a fixed seed, so the picture is the same on every
visit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RED = "#dc2626"
_EDGE = "rgba(100,116,139,0.45)"


def neighbourhood(
    edge_index: np.ndarray,
    n_nodes: int,
    scores: np.ndarray,
    centre: np.ndarray,
    *,
    max_nodes: int = 300,
    hops: int = 2,
) -> np.ndarray:
    """Nodes to show: ``centre`` and up to ``hops`` rings of neighbours, at most ``max_nodes``."""
    keep = list(dict.fromkeys(int(c) for c in centre))[:max_nodes]
    chosen = np.zeros(n_nodes, dtype=bool)
    chosen[keep] = True
    frontier = chosen.copy()
    for _ in range(hops):
        reached = np.zeros(n_nodes, dtype=bool)
        reached[edge_index[1][frontier[edge_index[0]]]] = True
        ring = np.flatnonzero(reached & ~chosen)
        room = max_nodes - int(chosen.sum())
        if room <= 0 or not len(ring):
            break
        if len(ring) > room:  # decimate: the ring's highest scores
            ring = ring[np.argsort(-scores[ring], kind="stable")[:room]]
        chosen[ring] = True
        frontier = np.zeros(n_nodes, dtype=bool)
        frontier[ring] = True
    return np.flatnonzero(chosen)


def figure(
    edge_index: np.ndarray,
    node_ids: np.ndarray,
    scores: np.ndarray,
    flagged: np.ndarray,
    *,
    reasons: list[str] | None = None,
    top: int = 25,
    max_nodes: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """The Plotly figure dict: edge lines, nodes coloured by score, flagged ones in red."""
    import networkx as nx

    n = len(scores)
    flagged = np.asarray(flagged).astype(bool)
    candidates = np.flatnonzero(flagged)
    if not len(candidates):
        candidates = np.arange(n)
    centre = candidates[np.argsort(-scores[candidates], kind="stable")[:top]]
    shown = neighbourhood(edge_index, n, scores, centre, max_nodes=max_nodes)
    position = -np.ones(n, dtype=np.int64)
    position[shown] = np.arange(len(shown))
    inside = (position[edge_index[0]] >= 0) & (position[edge_index[1]] >= 0)
    inside &= edge_index[0] < edge_index[1]  # each undirected edge once
    sources, targets = position[edge_index[0][inside]], position[edge_index[1][inside]]
    g = nx.Graph()
    g.add_nodes_from(range(len(shown)))
    g.add_edges_from(zip(sources.tolist(), targets.tolist(), strict=True))
    layout = nx.spring_layout(g, seed=seed, iterations=60)
    xy = np.array([layout[i] for i in range(len(shown))]).reshape(-1, 2)
    ex: list[float | None] = []
    ey: list[float | None] = []
    for s, t in zip(sources, targets, strict=True):
        ex += [round(float(xy[s, 0]), 4), round(float(xy[t, 0]), 4), None]
        ey += [round(float(xy[s, 1]), 4), round(float(xy[t, 1]), 4), None]
    is_flagged = flagged[shown]
    reason = [reasons[i] if reasons else "" for i in shown]
    text = [
        f"{node_ids[i]}<br>score {scores[i]:.4g}"
        + (f"<br>reason: {r}" if r else "")
        + ("<br><b>flagged</b>" if f else "")
        for i, r, f in zip(shown, reason, is_flagged, strict=True)
    ]
    title = "Graph: the top anomalies and their neighbourhood"
    if len(shown) < n:
        title += (
            f"<br><sup>{len(shown):,} of {n:,} nodes shown ({len(centre)} highest flagged "
            "and their neighbours)</sup>"
        )
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": ex,
                "y": ey,
                "line": {"color": _EDGE, "width": 0.8},
                "hoverinfo": "skip",
                "name": "edges",
                "showlegend": False,
            },
            {
                "type": "scatter",
                "mode": "markers",
                "x": [round(float(v), 4) for v in xy[:, 0]],
                "y": [round(float(v), 4) for v in xy[:, 1]],
                "text": text,
                "customdata": [str(node_ids[i]) for i in shown],
                "hovertemplate": "%{text}<extra></extra>",
                "name": "nodes",
                "showlegend": False,
                "marker": {
                    "color": [round(float(scores[i]), 4) for i in shown],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": {"text": "score"}},
                    "size": [11 if f else 6 for f in is_flagged],
                    "line": {
                        "color": [RED if f else "rgba(0,0,0,0)" for f in is_flagged],
                        "width": 2,
                    },
                },
            },
        ],
        "layout": {
            "title": {"text": title},
            "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "hovermode": "closest",
        },
    }
