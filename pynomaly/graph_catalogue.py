"""The graph family of the catalogue: PyOD 3's ``pyod.models.pyg_*`` detectors.

Kept apart from :mod:`pynomaly.graph` (which imports torch when it runs) so listing the
catalogue stays cheap. The entries come from PyOD's knowledge base like the tabular ones;
what we measured and PyOD does not say is added here (see DEPENDENCIES.md: 600 nodes,
6.5k edges, 30 planted anomalies).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAMILY = "graph"


@dataclass(frozen=True)
class GraphModel:
    """How Pynomaly drives one PyOD graph detector."""

    key: str
    module: str
    class_name: str
    factory: str | None  # the module-level function that builds the network; None: no network
    parts: tuple[str, ...]  # score parts kept apart (the reasons); () when not separated
    weak: str | None = None  # measured weakness, shown as a warning


MODELS: dict[str, GraphModel] = {
    m.key: m
    for m in (
        GraphModel(
            "dominant",
            "pyod.models.pyg_dominant",
            "DOMINANT",
            "_DOMINANTModel",
            ("structure", "feature"),
        ),
        GraphModel("cola", "pyod.models.pyg_cola", "CoLA", "_CoLAModel", ()),
        GraphModel(
            "anomalydae",
            "pyod.models.pyg_anomalydae",
            "AnomalyDAE",
            "_AnomalyDAEModel",
            ("structure", "feature"),
        ),
        GraphModel(
            "conad",
            "pyod.models.pyg_conad",
            "CONAD",
            "_CONADModel",
            ("contrast", "structure", "feature"),
        ),
        GraphModel(
            "guide", "pyod.models.pyg_guide", "GUIDE", "_GUIDEModel", ("structure", "feature")
        ),
        GraphModel(
            "radar",
            "pyod.models.pyg_radar",
            "Radar",
            None,
            (),
            weak="measured ROC-AUC 0.48 on the 600-node demo graph (0.44 on another "
            "planted graph): no better than chance there; prefer GUIDE, DOMINANT or CoLA",
        ),
        GraphModel(
            "anomalous",
            "pyod.models.pyg_anomalous",
            "ANOMALOUS",
            None,
            (),
            weak="measured ROC-AUC 0.17 on the 600-node demo graph (0.51 on another "
            "planted graph): it ranked planted anomalies low; prefer GUIDE, DOMINANT or CoLA",
        ),
        GraphModel(
            "scan_graph",
            "pyod.models.pyg_scan",
            "SCAN",
            None,
            (),
            weak="measured ROC-AUC 0.15 on the 600-node demo graph (0.26 on another): "
            "structure only, it misses feature outliers and ranks dense cliques as normal",
        ),
    )
}


# Seconds per epoch (per iteration for Radar/ANOMALOUS) per node², measured on the demo
# graph (600 nodes, 2,430 edges, 6 features, PyOD defaults) on a loaded 2-core machine:
# DOMINANT 8.6 s, AnomalyDAE 79 s, GUIDE 74 s, CONAD 191 s, CoLA 32 s for 100 epochs;
# Radar 112 s, ANOMALOUS 24 s, SCAN 0.2 s. CoLA and SCAN work on the sparse structure.
_PER_NODE2 = {
    "dominant": 2.4e-7,
    "anomalydae": 2.2e-6,
    "guide": 2.0e-6,
    "conad": 5.3e-6,
    "radar": 3.1e-6,
    "anomalous": 6.6e-7,
}
_PER_NODE = {"cola": 5.3e-4}
_PER_EDGE = {"scan_graph": 4e-5}
# Dense n x n float32 matrices alive at once in the autoencoders' fits (adjacency, its
# reconstruction, their gradients, the motif graph for GUIDE): a rough count.
_DENSE_COPIES = {"dominant": 4, "anomalydae": 4, "guide": 8, "conad": 4, "radar": 6, "anomalous": 6}
GRAPH_SLOW_SECONDS = 10 * 60
GRAPH_MEMORY_BYTES = 4 * 2**30


def estimate_graph(*, nodes: int, edges: int, key: str, params: dict[str, Any]) -> Any:
    """The cost guard's estimate for a graph run (a :class:`pynomaly.cost.CostEstimate`)."""
    from .cost import CostEstimate, human_bytes, human_seconds

    key = str(key).strip().lower()
    rounds = int(params.get("epochs") or params.get("max_iter") or 100)
    if key in _PER_NODE2:
        seconds = _PER_NODE2[key] * nodes * nodes * rounds
    elif key in _PER_NODE:
        seconds = _PER_NODE[key] * nodes * rounds
    else:
        seconds = _PER_EDGE.get(key, 1e-4) * max(edges, 1)
    seconds += 3.0
    memory = 400 * 2**20 + _DENSE_COPIES.get(key, 1) * nodes * nodes * 4
    warnings = []
    if seconds > GRAPH_SLOW_SECONDS:
        warnings.append(
            f"This graph run may take {human_seconds(seconds)} ({nodes:,} nodes, {rounds} "
            "epochs): fewer epochs or a faster detector (DOMINANT, CoLA) help."
        )
    if memory > GRAPH_MEMORY_BYTES:
        warnings.append(
            f"This detector holds {nodes:,} x {nodes:,} dense matrices: about "
            f"{human_bytes(memory)} of memory. CoLA works on the sparse structure."
        )
    name = MODELS[key].class_name if key in MODELS else key
    return CostEstimate(
        seconds=seconds,
        memory_bytes=int(memory),
        fit_rows=nodes,
        warnings=warnings,
        suggested_detectors=("cola", "dominant") if warnings else (),
        detectors=((name, "quadratic" if key in _PER_NODE2 else "linear"),),
    )


def is_graph_key(key: str) -> bool:
    return str(key).strip().lower() in MODELS


def weak_warning(key: str) -> str | None:
    model = MODELS.get(str(key).strip().lower())
    return f"{model.class_name} is weak: {model.weak}." if model and model.weak else None


def graph_specs(
    entries: dict[str, dict[str, Any]], root: Path, from_kb: Callable[..., Any]
) -> list[Any]:
    """Catalogue entries of the graph family, built by the catalogue's own ``from_kb``."""
    specs = []
    for name, entry in entries.items():
        if "graph" not in entry.get("data_types", ()) or entry.get("status") != "shipped":
            continue
        entry = {**entry, "requires": [*(entry.get("requires") or ()), "torch"]}
        spec = from_kb(name, entry, root)
        model = MODELS.get(spec.key)
        if model is None:  # a graph detector this release does not drive yet
            spec = dataclasses.replace(
                spec,
                available=False,
                unavailable_reason="a graph detector Pynomaly does not drive yet",
            )
        else:
            spec = dataclasses.replace(
                spec,
                family=FAMILY,
                saveable=model.factory is not None,
                contributions=bool(model.parts),
                weaknesses=((model.weak[0].upper() + model.weak[1:],) if model.weak else ())
                + spec.weaknesses,
            )
        specs.append(spec)
    return specs
