"""Graph anomaly detection: PyOD 3's ``pyod.models.pyg_*`` detectors on a checked graph.

PyOD's graph detectors are transductive: ``fit(X, edge_index=...)`` trains a network and
leaves only ``decision_scores_`` — the network is a local variable of ``fit``. To keep a
trained model (and score it again with identical results) we hand ``fit`` a factory that
records the network it builds (:func:`_capturing`), then compute the scores ourselves with
the formula of the detector's own final pass, kept apart by part:

========== =========================================== =======================
detector   score                                       parts (reasons)
========== =========================================== =======================
DOMINANT   a·structure error + (1−a)·feature error     structure, feature
AnomalyDAE a·structure error + (1−a)·feature error     structure, feature
GUIDE      a·(orig. errors) + (1−a)·(motif errors)      structure, feature
CONAD      contrast + a·(structure + feature error)    contrast, structure, feature
CoLA       −discriminator(node, its neighbourhood)     (one score: context)
Radar      attribute residual norm                     (not separated)
ANOMALOUS  attribute residual norm, Laplacian-smoothed (not separated)
SCAN       structural clustering outlier score         (not separated)
========== =========================================== =======================

Where PyOD's final pass draws random numbers (CoLA's dropout rounds, CONAD's augmented
view), ours is seeded, so the same model on the same graph gives the same scores. Radar,
ANOMALOUS and SCAN train no network: their scores are PyOD's, and there is no model to save.
Models are saved with :mod:`pynomaly.torch_state` (state dict + plain attributes, read back
with ``weights_only=True``), never pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import catalogue, torch_state
from .errors import ArtifactError, DataError, DetectionFailed, ParamError
from .graph_catalogue import MODELS, GraphModel
from .graph_data import GraphData
from .pipeline import ScoreResult
from .prepare import PrepareOptions, Preparer
from .scores import Threshold, threshold_from_scores

Progress = Callable[[str, int, int], None]
ShouldStop = Callable[[], bool]

FORMAT = "pynomaly-graph/1"
_SEVERITY_GRID = 1001
_LOCK = threading.Lock()  # the factory swap is process-wide: one graph fit at a time


def is_graph_detector(key: str) -> bool:
    return str(key).strip().lower() in MODELS


# ------------------------------------------------------------------ fitting


@contextmanager
def _capturing(model: GraphModel) -> Iterator[list[Any]]:
    """While inside, the detector's network factory records the networks it builds."""
    made: list[Any] = []
    if model.factory is None:
        yield made
        return
    module = importlib.import_module(model.module)
    original = getattr(module, model.factory)

    def factory(*args: Any, **kwargs: Any) -> Any:
        network = original(*args, **kwargs)
        made.append((args, kwargs, network))
        return network

    with _LOCK:
        setattr(module, model.factory, factory)
        try:
            yield made
        finally:
            setattr(module, model.factory, original)


def _tensors(X: np.ndarray, edge_index: np.ndarray) -> tuple[Any, Any]:
    import torch

    return (
        torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(edge_index, dtype=np.int64)),
    )


def _dense(ei: Any, n: int) -> Any:
    import torch

    adj = torch.zeros(n, n)
    adj[ei[0], ei[1]] = 1.0
    return adj


def _motif_index(edge_index: np.ndarray, n: int) -> Any:
    import torch
    from pyod.models._pyg_utils import to_sparse_adj

    adj = to_sparse_adj(edge_index, n)
    motif = adj.dot(adj).multiply(adj).tocoo()
    return torch.from_numpy(np.array([motif.row, motif.col], dtype=np.int64))


def _parts(
    key: str, network: Any, X: np.ndarray, edge_index: np.ndarray, params: dict[str, Any], seed: int
) -> dict[str, np.ndarray]:
    """The detector's final scoring pass, part by part (see the module note)."""
    import torch
    import torch.nn.functional as F

    x, ei = _tensors(X, edge_index)
    n = x.shape[0]
    torch.manual_seed(seed)
    with torch.no_grad():
        if key in ("dominant", "anomalydae"):
            network.eval()
            a_hat, x_hat = network(x, ei)
            alpha = float(params["alpha"])
            struct = torch.sum((_dense(ei, n) - a_hat) ** 2, dim=1)
            attr = torch.sum((x - x_hat) ** 2, dim=1)
            out = {"structure": alpha * struct, "feature": (1 - alpha) * attr}
        elif key == "guide":
            network.eval()
            motif = _motif_index(edge_index, n)
            x_o, x_m, a_o, a_m = network(x, ei, motif)
            alpha = float(params["alpha"])
            s_o = torch.sum((_dense(ei, n) - a_o) ** 2, dim=1)
            s_m = torch.sum((_dense(motif, n) - a_m) ** 2, dim=1)
            f_o, f_m = torch.sum((x - x_o) ** 2, dim=1), torch.sum((x - x_m) ** 2, dim=1)
            out = {
                "structure": alpha * s_o + (1 - alpha) * s_m,
                "feature": alpha * f_o + (1 - alpha) * f_m,
            }
        elif key == "conad":
            from pyod.models.pyg_conad import _create_anomalous_view

            network.eval()
            x_aug, ei_aug = _create_anomalous_view(x, ei, float(params["aug_ratio"]))
            z_o, z_a, x_hat, a_hat = network(x, ei, x_aug, ei_aug)
            cos = (F.normalize(z_o, dim=1) * F.normalize(z_a, dim=1)).sum(dim=1)
            alpha = float(params["alpha"])
            out = {
                "contrast": 1.0 - cos,
                "structure": alpha * torch.sum((_dense(ei, n) - a_hat) ** 2, dim=1),
                "feature": alpha * torch.sum((x - x_hat) ** 2, dim=1),
            }
        elif key == "cola":
            from torch_geometric.utils import degree

            deg = degree(ei[0], num_nodes=n).clamp(min=1)
            adj = torch.sparse_coo_tensor(ei, 1.0 / deg[ei[0]], (n, n)).coalesce()
            network.train()  # PyOD scores with dropout on, over 5 rounds
            rounds = []
            for _ in range(5):
                z = network.encode(x, ei)
                rounds.append(-network.discriminate(z, torch.sparse.mm(adj, z)))
            network.eval()
            out = {"context": torch.stack(rounds).mean(dim=0)}
        else:  # pragma: no cover - every key with a network is handled above
            raise DetectionFailed(f"no scoring pass for {key}")
    return {name: v.detach().cpu().numpy().astype(np.float64) for name, v in out.items()}


@dataclass
class FittedGraph:
    """A trained graph detector: preparation, network weights, threshold.

    Attributes
    ----------
    key : str
    params : dict
    seed : int
    preparer : Preparer
        Node features (the id column excluded), as for tables.
    network : torch.nn.Module or None
        None for detectors without a network (Radar, ANOMALOUS, SCAN).
    threshold_ : float
    severity_grid_ : ndarray
    parts : tuple of str
    """

    key: str
    params: dict[str, Any]
    seed: int
    preparer: Preparer
    id_column: str
    network: Any = None
    factory_args: tuple[Any, ...] = ()
    threshold: Threshold = field(default_factory=Threshold)
    threshold_: float = float("nan")
    severity_grid_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_scores_: np.ndarray | None = None
    parts: tuple[str, ...] = ()
    part_mean_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    part_std_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fit_seconds: float = 0.0
    n_train: int = 0
    _pyod_scores: np.ndarray | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.preparer.feature_names)

    @property
    def keys(self) -> list[str]:
        return [self.key]

    @property
    def saveable(self) -> bool:
        return self.network is not None

    def score(self, graph: GraphData, *, fitted_graph: bool = False) -> ScoreResult:
        """Node scores of ``graph`` (the training graph, or another with the same features)."""
        X = self.preparer.transform(graph.nodes)
        if self.network is None:
            if not fitted_graph or self._pyod_scores is None:
                raise DetectionFailed(
                    f"{MODELS[self.key].class_name} keeps no model: it scores only the graph "
                    "it was fitted on"
                )
            parts = {"score": self._pyod_scores}
        else:
            parts = _parts(self.key, self.network, X, graph.edge_index, self.params, self.seed)
        matrix = np.column_stack([parts[p] for p in parts])
        scores = matrix.sum(axis=1)
        bad = ~np.isfinite(scores)
        if bad.any():
            raise DetectionFailed(
                f"{MODELS[self.key].class_name} produced {int(bad.sum())} non-finite scores "
                f"(of {len(scores)})"
            )
        if len(self.part_mean_) != matrix.shape[1]:  # the first pass of a fit
            self.part_mean_ = matrix.mean(axis=0)
            std = matrix.std(axis=0)
            self.part_std_ = np.where(std > 0, std, 1.0)
        # Reasons: how unusual each part is among the training nodes (a z-score), so a
        # feature error stands out even where structure errors are larger in absolute terms.
        contributions = (matrix - self.part_mean_) / self.part_std_ if self.parts else None
        return ScoreResult(
            scores=scores,
            labels=(scores > self.threshold_).astype(np.int8),
            severity=100.0
            * np.searchsorted(self.severity_grid_, scores, side="right")
            / max(len(self.severity_grid_), 1),
            threshold=float(self.threshold_),
            contributions=contributions,
            feature_names=list(self.parts) if contributions is not None else [],
        )


def fit_graph(
    graph: GraphData,
    key: str,
    params: dict[str, Any] | None = None,
    *,
    threshold: Threshold | None = None,
    prepare: PrepareOptions | None = None,
    seed: int = 42,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[FittedGraph, ScoreResult]:
    """Train ``key`` on ``graph`` and score its nodes.

    The networks (DOMINANT, CoLA, AnomalyDAE, CONAD, GUIDE) report each epoch to
    ``on_epoch`` (``{"epoch", "epochs", "loss": None, "eta_seconds", "elapsed_seconds"}``)
    and stop within an epoch when ``should_stop`` says so; Radar, ANOMALOUS and SCAN have
    no epochs (only the stage's elapsed time shows).

    Raises
    ------
    ParamError, DataError, DetectionFailed, DetectorUnavailable
    """
    import torch

    spec = catalogue.get_detector(key)
    if spec.key not in MODELS:
        raise ParamError("detectors", f"{spec.short_name} is not a graph detector")
    model = MODELS[spec.key]
    threshold = threshold or Threshold()
    estimator = catalogue.build_detector(spec.key, params or {}, seed=seed)
    kwargs = spec.validate_params(params or {})
    if progress:
        progress("preparing", 0, 1)
    preparer = Preparer().fit(graph.nodes, prepare or PrepareOptions(), exclude=[graph.id_column])
    X = preparer.transform(graph.nodes)
    if progress:
        progress("preparing", 1, 1)
        progress("fitting", 0, 1)
    if should_stop and should_stop():
        from .errors import Cancelled

        raise Cancelled("stopped on request")
    started = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    from . import deep

    watch: Any = contextlib.nullcontext()
    if spec.key in deep.GRAPH_EPOCH_PARAM:
        watch = deep.training(
            spec.key, estimator, rows=graph.n_nodes, on_epoch=on_epoch, should_stop=should_stop
        )
    with _capturing(model) as made, watch:
        try:
            estimator.fit(X, edge_index=graph.edge_index)
        except (ValueError, RuntimeError) as exc:
            raise DetectionFailed(f"{model.class_name} failed: {str(exc).splitlines()[0]}") from exc
    fitted = FittedGraph(
        key=spec.key,
        params=kwargs,
        seed=seed,
        preparer=preparer,
        id_column=graph.id_column,
        threshold=threshold,
        parts=model.parts,
        fit_seconds=time.perf_counter() - started,
        n_train=graph.n_nodes,
    )
    if made:
        args, factory_kwargs, network = made[-1]
        fitted.network, fitted.factory_args = network, tuple(args) + tuple(factory_kwargs.values())
    else:
        fitted._pyod_scores = np.asarray(estimator.decision_scores_, dtype=np.float64)
    if progress:
        progress("fitting", 1, 1)
        progress("scoring", 0, 1)
    fitted.threshold_ = 0.0
    first = fitted.score(graph, fitted_graph=True)
    fitted.train_scores_ = first.scores
    fitted.severity_grid_ = np.quantile(first.scores, np.linspace(0, 1, _SEVERITY_GRID))
    fitted.threshold_ = threshold_from_scores(first.scores, threshold)
    result = fitted.score(graph, fitted_graph=True)
    if progress:
        progress("scoring", 1, 1)
    return fitted, result


# ------------------------------------------------------------------ saving


def dumps(fitted: FittedGraph) -> bytes:
    """The model as bytes (:mod:`pynomaly.torch_state`); ArtifactError without a network."""
    if fitted.network is None:
        raise ArtifactError(
            f"{MODELS[fitted.key].class_name} trains no network: there is no model to save"
        )
    attributes = {
        "format": FORMAT,
        "key": fitted.key,
        "params": dict(fitted.params),
        "seed": int(fitted.seed),
        "id_column": fitted.id_column,
        "factory_args": list(fitted.factory_args),
        "threshold": fitted.threshold.to_dict(),
        "threshold_": float(fitted.threshold_),
        "severity_grid": np.asarray(fitted.severity_grid_, dtype=np.float64),
        "preparer": fitted.preparer.to_state(),
        "n_train": int(fitted.n_train),
        "part_mean": np.asarray(fitted.part_mean_, dtype=np.float64),
        "part_std": np.asarray(fitted.part_std_, dtype=np.float64),
    }
    return torch_state.dumps(fitted.network.state_dict(), attributes)


def save(fitted: FittedGraph, path: str | Path) -> str:
    """Write the model to ``path``; its sha256."""
    data = dumps(fitted)
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def loads(data: bytes) -> FittedGraph:
    try:
        state, attributes = torch_state.loads(data)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same refusal
        raise ArtifactError(f"not a Pynomaly graph model: {exc}") from None
    if attributes.get("format") != FORMAT or attributes.get("key") not in MODELS:
        raise ArtifactError("not a Pynomaly graph model (or a newer format than this release)")
    model = MODELS[attributes["key"]]
    assert model.factory is not None  # only networks are saved
    factory = getattr(importlib.import_module(model.module), model.factory)
    network = factory(*attributes["factory_args"])
    network.load_state_dict(state)
    network.eval()
    return FittedGraph(
        key=attributes["key"],
        params=dict(attributes["params"]),
        seed=int(attributes["seed"]),
        preparer=Preparer.from_state(attributes["preparer"]),
        id_column=attributes["id_column"],
        network=network,
        factory_args=tuple(attributes["factory_args"]),
        threshold=Threshold.from_dict(attributes["threshold"]),
        threshold_=float(attributes["threshold_"]),
        severity_grid_=np.asarray(attributes["severity_grid"], dtype=np.float64),
        parts=model.parts,
        n_train=int(attributes["n_train"]),
        part_mean_=np.asarray(attributes["part_mean"], dtype=np.float64),
        part_std_=np.asarray(attributes["part_std"], dtype=np.float64),
    )


def load(path: str | Path, *, sha256: str | None = None) -> FittedGraph:
    """Read a model written by :func:`save`, checking ``sha256`` when given."""
    data = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError("the model file does not match its recorded checksum")
    return loads(data)


# ------------------------------------------------------------------ results


def results_table(result: ScoreResult, graph: GraphData) -> Any:
    """The run's results table (:mod:`pynomaly.results` layout) plus the node ids."""
    import pyarrow as pa

    from . import results

    table = results.table(result)
    ids = graph.nodes[graph.id_column].astype("string").to_numpy(dtype=object)
    return table.append_column(results.NODE_ID, pa.array(ids, type=pa.string()))


def write_results(result: ScoreResult, graph: GraphData, path: str | Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(results_table(result, graph), path, compression="zstd")


def reasons(result: ScoreResult) -> list[str]:
    """Per node, the part that stands out most (highest z among the training nodes; '' when
    the detector does not separate them)."""
    if result.contributions is None or not result.feature_names:
        return [""] * len(result.scores)
    winner = np.argmax(result.contributions, axis=1)
    return [result.feature_names[i] for i in winner]


def check_features(graph: GraphData) -> None:
    """Refuse a graph whose nodes have no feature column besides the id."""
    if graph.nodes.shape[1] < 2:
        raise DataError(
            "the nodes table has only the id column: graph detectors need node features "
            "(add numeric columns)"
        )


def node_frame(result: ScoreResult, graph: GraphData) -> pd.DataFrame:
    """Nodes with their scores, labels, severity and reason: what ``pynomaly detect`` prints."""
    frame = pd.DataFrame(
        {
            "node_id": graph.nodes[graph.id_column].astype("string").to_numpy(),
            "score": result.scores,
            "label": result.labels,
            "severity": result.severity,
        }
    )
    if result.contributions is not None:
        for j, name in enumerate(result.feature_names):
            frame[f"{name}_z"] = result.contributions[:, j]
        frame["reason"] = reasons(result)
    return frame
