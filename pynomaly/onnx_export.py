"""ONNX export of a fitted pipeline, for the edge scorer (``edge/``, ``pynomaly-edge``).

The ONNX graph maps *prepared* features (float32, n x d) to the detector's raw score
(output ``score``, higher = more anomalous, PyOD's ``decision_function`` scale).
The preparation (imputation, one-hot / frequency encoding, scaling) is not in the graph:
it ships in the model's metadata (``metadata_props["pynomaly"]``, JSON) as a small
numpy-only spec that ``pynomaly_edge.prep`` applies to raw records, with the threshold
and the severity grid. One ``.onnx`` file therefore scores raw records like the platform.

Supported: single-detector pipelines of ``iforest`` (its scikit-learn ``detector_``
through skl2onnx, negated), ``pca`` (PyOD's weighted distance to the eigenvectors, built
from ONNX ops) and the torch detectors whose score is a pure function of the trained
network, traced with ``torch.onnx.export`` (TorchScript exporter, opset 17, dynamic batch):

* ``autoencoder``: PyOD's own standardisation (training mean and ``std + 1e-8``, in
  float64 as PyOD does it), the network in eval mode (batch norm on its running
  statistics, no dropout), then the Euclidean distance of the row to its reconstruction;
* ``deepsvdd``: PyOD's ``StandardScaler`` (float64), the network in eval mode, then the
  squared distance of its output to the centre ``c_``.

Not exported: ``vae`` (it samples its latent code while scoring, see
:data:`NOT_EXPORTABLE`) and the other deep detectors (no converter written yet).

At export the ONNX scores of a sample are compared with the platform's and the export
is refused beyond the detector's tolerance (:func:`rtol_for`: :data:`RTOL` for the two
converters above, :data:`DEEP_RTOL` for the float32 networks; relative to the spread of the
sample's scores).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import EngineError

if TYPE_CHECKING:  # the catalogue reads EXPORTABLE: importing this module stays light
    import numpy as np

    from .pipeline import FittedPipeline

#: Deep (torch) detectors exported through ``torch.onnx``.
DEEP_EXPORTABLE = frozenset({"autoencoder", "deepsvdd"})
EXPORTABLE = frozenset({"iforest", "pca"}) | DEEP_EXPORTABLE
#: Why a detector someone may expect to export does not.
NOT_EXPORTABLE = {
    "vae": "VAE samples its latent code (torch.randn) while scoring, so a row's score "
    "depends on the rows scored with it and on torch's generator; an ONNX graph cannot "
    "reproduce that",
}
FORMAT_VERSION = 1
# float32 graphs: scores agree with float64 PyOD to ~1e-7 relative; refuse beyond 1e-5.
RTOL = 1e-5
# float32 networks (torch and onnxruntime sum in different orders): ~1e-7 measured on
# PyOD's default widths; refused beyond 1e-4.
DEEP_RTOL = 1e-4
# the ONNX opset of the traced deep graphs (as the converters above)
_TORCH_EXPORT_OPSET = 17


def rtol_for(key: str) -> float:
    """The largest relative difference (to the sample's score spread) accepted for ``key``."""
    return DEEP_RTOL if key in DEEP_EXPORTABLE else RTOL


class NotExportable(EngineError):
    """The pipeline cannot be exported (detector without a converter, ensemble)."""


def _iforest_graph(estimator: Any, n_features: int) -> Any:
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    model = convert_sklearn(
        estimator.detector_,
        initial_types=[("X", FloatTensorType([None, n_features]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    graph = model.graph
    # sklearn's decision_function is the negative of PyOD's score
    graph.node.append(helper.make_node("Neg", ["scores"], ["score_col"]))
    graph.node.append(helper.make_node("Flatten", ["score_col"], ["score_2d"], axis=1))
    graph.node.append(helper.make_node("Squeeze", ["score_2d"], ["score"]))
    del graph.output[:]
    from onnx import TensorProto

    graph.output.append(helper.make_tensor_value_info("score", TensorProto.FLOAT, [None]))
    return model


def _pca_graph(estimator: Any, n_features: int) -> Any:
    # pyod.models.pca.PCA.decision_function: (standardised X) -> cdist to
    # selected_components_, divided by selected_w_components_, summed per row.
    # cdist(X, c) over components = sqrt(|x|^2 - 2 x.c + |c|^2).
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    comps = np.asarray(estimator.selected_components_, dtype=np.float64)
    weights = np.asarray(estimator.selected_w_components_, dtype=np.float64)
    inits = []
    nodes = []
    x = "X"
    if getattr(estimator, "standardization", False):
        scaler = estimator.scaler_
        inits += [
            numpy_helper.from_array(scaler.mean_.astype(np.float32), "mu"),
            numpy_helper.from_array(scaler.scale_.astype(np.float32), "sd"),
        ]
        nodes += [
            helper.make_node("Sub", ["X", "mu"], ["xc"]),
            helper.make_node("Div", ["xc", "sd"], ["xs"]),
        ]
        x = "xs"
    inits += [
        numpy_helper.from_array(comps.T.astype(np.float32), "CT"),
        numpy_helper.from_array((comps**2).sum(axis=1).astype(np.float32), "c2"),
        numpy_helper.from_array((1.0 / weights).astype(np.float32), "invw"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
        numpy_helper.from_array(np.array([-2.0], dtype=np.float32), "m2"),
        numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero"),
    ]
    nodes += [
        helper.make_node("Mul", [x, x], ["xx"]),
        helper.make_node("ReduceSum", ["xx", "ax1"], ["x2"], keepdims=1),
        helper.make_node("MatMul", [x, "CT"], ["xc_dot"]),
        helper.make_node("Mul", ["xc_dot", "m2"], ["m2xc"]),
        helper.make_node("Add", ["x2", "m2xc"], ["s1"]),
        helper.make_node("Add", ["s1", "c2"], ["d2"]),
        helper.make_node("Max", ["d2", "zero"], ["d2p"]),
        helper.make_node("Sqrt", ["d2p"], ["d"]),
        helper.make_node("Mul", ["d", "invw"], ["dw"]),
        helper.make_node("ReduceSum", ["dw", "ax1"], ["score"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "pynomaly_pca",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _standardiser(est: Any, key: str, d: int) -> tuple[Any, Any]:
    """(mean, divisor), float64, of the standardisation the PyOD detector applies itself."""
    import numpy as np

    if not getattr(est, "preprocessing", False):
        return np.zeros(d), np.ones(d)
    if key == "deepsvdd":  # sklearn StandardScaler
        scaler = est.scaler_
        mean = scaler.mean_ if scaler.with_mean else np.zeros(d)
        scale = scaler.scale_ if scaler.with_std else np.ones(d)
        return np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    # BaseDeepLearningDetector's TorchDataset: (x - mean) / (std + eps), eps = 1e-8
    return np.asarray(est.X_mean, dtype=np.float64), np.asarray(est.X_std, dtype=np.float64) + 1e-8


def _deep_module(est: Any, key: str, d: int) -> Any:
    """A ``torch.nn.Module`` computing PyOD's ``decision_function`` of ``est`` from float32 rows."""
    import copy

    import torch

    mean, divisor = _standardiser(est, key, d)
    if key == "autoencoder":
        net = copy.deepcopy(est.model)
        centre = None
    else:
        net = copy.deepcopy(est.model_)
        centre = torch.as_tensor(est.c_).detach().to("cpu", torch.float32).clone()
    net = net.to("cpu").float().eval()  # batch norm on running statistics, no dropout

    class Score(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
            self.register_buffer("divisor", torch.as_tensor(divisor, dtype=torch.float64))
            if centre is not None:
                self.register_buffer("centre", centre)

        def forward(self, x: Any) -> Any:
            # PyOD standardises in float64, then hands float32 to the network
            z = ((x.double() - self.mean) / self.divisor).float()
            out = self.net(z)
            if centre is None:  # AutoEncoder: distance to the reconstruction
                return torch.sqrt(torch.sum((z - out) ** 2, dim=1))
            return torch.sum((out - self.centre) ** 2, dim=1)  # DeepSVDD

    return Score().eval()


def _deep_graph(estimator: Any, key: str, n_features: int) -> Any:
    import tempfile
    import warnings
    from pathlib import Path

    import onnx
    import torch

    module = _deep_module(estimator, key, n_features)
    # torch.onnx.export is typed to write to a path: a private temporary directory
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        # torch 2.13 warns that the TorchScript exporter is legacy; the dynamo one needs
        # onnxscript, which is not a dependency
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(2, n_features, dtype=torch.float32),),
            Path(tmp) / "model.onnx",
            input_names=["X"],
            output_names=["score"],
            dynamic_axes={"X": {0: "n"}, "score": {0: "n"}},
            opset_version=_TORCH_EXPORT_OPSET,
            dynamo=False,
        )
        return onnx.load(Path(tmp) / "model.onnx")


def exportable(fitted: FittedPipeline) -> str | None:
    """``None`` when ``fitted`` can be exported, else the reason why not."""
    return exportable_keys(fitted.keys)


def exportable_keys(keys: list[str] | tuple[str, ...]) -> str | None:
    """:func:`exportable` from the detector keys alone (no model loaded): pages use it."""
    keys = list(keys)
    if len(keys) != 1:
        return "only single-detector pipelines export to ONNX (ensembles do not)"
    if keys[0] in NOT_EXPORTABLE:
        return f"'{keys[0]}' cannot be exported to ONNX: {NOT_EXPORTABLE[keys[0]]}"
    if keys[0] not in EXPORTABLE:
        return f"no ONNX converter for detector '{keys[0]}' (exportable: {', '.join(sorted(EXPORTABLE))})"
    return None


def preprocess_spec(fitted: FittedPipeline) -> dict[str, Any]:
    """The numpy-only preparation spec shipped in the model's metadata."""
    prep = fitted.preparer
    return {
        "format": FORMAT_VERSION,
        "detector": fitted.keys[0],
        "input_columns": list(prep.input_columns),
        "feature_names": list(prep.feature_names),
        "plan": [dict(step) for step in prep.plan],
        "impute": bool(prep.options.get("impute", True)),
        "scaling": prep.options.get("scaling", "none"),
        "center": [float(v) for v in prep.center],
        "scale": [float(v) for v in prep.scale],
        "threshold": float(fitted.threshold_),
        "severity_grid": [float(v) for v in fitted.severity_grid_],
        "rtol": rtol_for(fitted.keys[0]),
    }


def export_onnx(fitted: FittedPipeline, sample: np.ndarray | None = None) -> bytes:
    """The serialized ONNX model of ``fitted``; raises :class:`NotExportable`.

    ``sample``: prepared rows checked against the platform's scores (default: 256
    random rows drawn around the training scaling).
    """
    reason = exportable(fitted)
    if reason:
        raise NotExportable(reason)
    import numpy as np
    import onnxruntime as ort
    from onnx import helper

    key = fitted.keys[0]
    estimator = fitted.detectors_[0]
    d = len(fitted.feature_names)
    if key == "iforest":
        model = _iforest_graph(estimator, d)
    elif key == "pca":
        model = _pca_graph(estimator, d)
    else:
        model = _deep_graph(estimator, key, d)
    helper.set_model_props(model, {"pynomaly": json.dumps(preprocess_spec(fitted))})
    data = model.SerializeToString()
    if sample is None:
        sample = np.random.default_rng(fitted.config.seed).normal(size=(256, d))
    sample = np.ascontiguousarray(sample, dtype=np.float32).astype(np.float64)
    expected = fitted.score_array(sample).scores
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(["score"], {"X": sample.astype(np.float32)})[0].astype(np.float64)
    spread = max(float(np.ptp(expected)), float(np.abs(expected).max()), 1e-12)
    error = float(np.abs(got - expected).max()) / spread
    rtol = rtol_for(key)
    if not error <= rtol:
        raise NotExportable(
            f"ONNX scores differ from the platform's by {error:.2e} (relative; limit {rtol:g})"
        )
    return bytes(data)
