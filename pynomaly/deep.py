"""PyOD's deep (torch) tabular detectors: device, per-epoch progress, saving without pickle,
and fine-tuning from a trained model.

* **Saving.** skops cannot hold torch modules, and ``torch.save`` of a module pickles code.
  :func:`dumps` keeps each network's ``state_dict`` and the plain fitted attributes (scaler
  statistics, centre ``c_``, threshold, shapes) through :mod:`pynomaly.torch_state`;
  :func:`loads` rebuilds the networks from the detector's constructor parameters and the
  recorded shapes (one builder per detector below), then loads the state into them. The
  scikit-learn parts some detectors keep (DIF's isolation forests, LUNAR's neighbour index)
  are stored as skops bytes or as the data to rebuild them, never as pickles.
* **Progress and cancel.** Only AutoEncoder and VAE use PyOD's ``BaseDeepLearningDetector``
  (whose ``epoch_update`` hook fires per epoch); the others train in their own ``fit``
  loops with no hook at all. One mechanism covers them all: torch's public global
  optimizer hook (``register_optimizer_step_post_hook``) counts optimizer steps, and each
  detector's schedule (:func:`epoch_steps`, read off its training loop and checked per
  detector by the tests) turns steps into epochs. A cancel is checked at each epoch's end
  (and inside long epochs), so a run stops within one epoch.
* **Device.** ``PYNOMALY_DEVICE=auto|cpu|cuda``: auto takes CUDA when torch sees one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import torch_state
from .errors import Cancelled, DetectorUnavailable, ParamError

#: Catalogue keys of the deep tabular detectors handled here.
DEEP_KEYS = frozenset(
    {
        "autoencoder",
        "vae",
        "deepsvdd",
        "so_gaal",
        "mo_gaal",
        "lunar",
        "dif",
        "anogan",
        "alad",
        "ae1svm",
        "devnet",
    }
)
#: The parameter that sets the number of training epochs (SO_GAAL/MO_GAAL train
#: 3 x ``stop_epochs``); DIF does not train (random networks + isolation forests).
EPOCH_PARAM = {
    "autoencoder": "epoch_num",
    "vae": "epoch_num",
    "deepsvdd": "epochs",
    "so_gaal": "stop_epochs",
    "mo_gaal": "stop_epochs",
    "lunar": "n_epochs",
    "anogan": "epochs",
    "alad": "epochs",
    "ae1svm": "epochs",
    "devnet": "epochs",
}
#: The torch time-series detectors (:mod:`pynomaly.timeseries` fits them per series): their
#: epochs are reported and cancelled through :func:`training` too.
TS_EPOCH_PARAM = {"lstmad": "epochs", "anomalytransformer": "epochs"}
#: PyOD 3's graph networks (:mod:`pynomaly.graph`): full-batch, one optimizer step an epoch.
#: Radar, ANOMALOUS and SCAN train no network and have no epochs to report.
GRAPH_EPOCH_PARAM = {k: "epochs" for k in ("dominant", "cola", "anomalydae", "conad", "guide")}
#: Detectors whose ``fit`` keeps a network given to it (PyOD's ``build_model`` hook),
#: so training can start from a trained model's weights.
FINE_TUNABLE = frozenset({"autoencoder", "vae"})

FORMAT_VERSION = 1
# Training histories and caches: not needed to score, and as large as the data.
_NOT_SAVED = frozenset(
    {
        "train_history",
        "hist_loss_generator",
        "hist_loss_discriminator",
        "hist_loss_disc",
        "hist_loss_gen",
        "x_reduced_lst",
        "device",
        "criterion",
        "optimizer",
        "opt_gen",
        "opt_disc",
        "model",
        "model_",
        "_pynomaly_base_weights",
        "_pynomaly_base_features",
    }
)
_SCALERS = {
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
}


def is_deep(key: str) -> bool:
    return str(key).lower() in DEEP_KEYS


# -- device -----------------------------------------------------------------------------


def resolve_device(value: str | None = None) -> str:
    """The torch device from ``value`` or ``PYNOMALY_DEVICE`` (auto | cpu | cuda[:N]).

    Raises
    ------
    ParamError
        Not one of those, or CUDA asked for where torch sees none.
    """
    import torch

    raw = (value if value is not None else os.environ.get("PYNOMALY_DEVICE", "auto")) or "auto"
    choice = raw.strip().lower()
    if choice == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ParamError(
                "device", f"{raw!r} was asked for (PYNOMALY_DEVICE) but torch sees no CUDA GPU"
            )
        return "cuda:0" if choice == "cuda" else choice
    raise ParamError("device", f"PYNOMALY_DEVICE must be auto, cpu or cuda, not {raw!r}")


def place(estimator: Any, device: str) -> None:
    """Make ``estimator`` train and score on ``device`` (every deep detector reads
    ``self.device`` in ``fit``; some pick CUDA in ``__init__`` if they see one)."""
    import torch

    if "device" in vars(estimator):
        estimator.device = torch.device(device)


# -- progress -----------------------------------------------------------------------------

EpochCallback = Callable[[dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class Training:
    """How deep detectors of a fit train: where, reporting what, starting from what.

    ``base`` is a fitted pipeline (``pynomaly.pipeline.FittedPipeline``) of the same
    detectors and features to fine-tune from; ``device`` None means ``PYNOMALY_DEVICE``.
    """

    on_epoch: EpochCallback | None = None
    base: Any = None
    device: str | None = None


def n_epochs(key: str, params: dict[str, Any]) -> int:
    """Epochs a fit of ``key`` with ``params`` trains for (0 for DIF)."""
    name = EPOCH_PARAM.get(key) or TS_EPOCH_PARAM.get(key) or GRAPH_EPOCH_PARAM.get(key)
    if name is None:
        return 0
    value = int(params.get(name) or 0)
    return value * 3 if key in ("so_gaal", "mo_gaal") else value


def epoch_steps(key: str, estimator: Any, rows: int, y: np.ndarray | None = None) -> list[int]:
    """Optimizer steps in each training epoch of ``estimator`` on ``rows`` rows.

    Read off each detector's training loop in PyOD 3.6.7 (tests check every one):
    batches per epoch times the optimizers stepped per batch.
    """
    p = estimator.get_params()
    epochs = n_epochs(key, p)
    if key in ("autoencoder", "vae"):  # DataLoader(drop_last=True), one step per batch
        return [rows // int(p["batch_size"])] * epochs
    if key in ("deepsvdd", "ae1svm"):
        return [math.ceil(rows / int(p["batch_size"]))] * epochs
    if key == "devnet":
        known = rows if y is None else int(np.isin(y, (0, 1)).sum())
        return [math.ceil(known / int(p["batch_size"]))] * epochs
    if key == "anogan":  # discriminator + generator per batch
        return [2 * math.ceil(rows / int(p["batch_size"]))] * epochs
    if key == "alad":  # one batch per "epoch": discriminator + generator
        return [2] * epochs
    if key == "lstmad":  # one (window -> next point) pair per point after the first window
        pairs = max(rows - int(p["window_size"]), 0)
        return [math.ceil(pairs / int(p["batch_size"]))] * epochs
    if key == "anomalytransformer":  # minimise + maximise phase per batch of windows
        windows = max((rows - int(p["window_size"])) // int(p["step"]) + 1, 0)
        return [2 * math.ceil(windows / int(p["batch_size"]))] * epochs
    if key == "lunar" or key in GRAPH_EPOCH_PARAM:  # full batch
        return [1] * epochs
    if key in ("so_gaal", "mo_gaal"):
        stop = int(p["stop_epochs"])
        batches = math.ceil(rows / min(500, rows))
        generators = 1 if key == "so_gaal" else int(p["k"])
        steps = []
        for epoch in range(epochs):
            if epoch < stop:
                steps.append(batches * (1 + generators))
            elif epoch == stop:
                # SO_GAAL stops its generator after this epoch; MO_GAAL after its first batch
                steps.append(batches * 2 if key == "so_gaal" else (1 + generators) + (batches - 1))
            else:
                steps.append(batches)
        return steps
    return []


def _last_loss(estimator: Any) -> float | None:
    """The newest training loss the detector records, where it records one."""
    for attr in ("hist_loss_generator", "hist_loss_gen"):
        values = vars(estimator).get(attr)
        if values:
            return float(values[-1])
    history = vars(estimator).get("train_history")
    if history and history.get("discriminator_loss"):
        return float(history["discriminator_loss"][-1])
    return None


class _Observer:
    """Counts optimizer steps of the fit running in this thread; reports each epoch."""

    def __init__(
        self,
        estimator: Any,
        schedule: list[int],
        on_epoch: EpochCallback | None,
        should_stop: Callable[[], bool] | None,
    ):
        self.estimator, self.on_epoch, self.should_stop = estimator, on_epoch, should_stop
        self.boundaries = list(np.cumsum(schedule)) if schedule else []
        self.epochs = len(schedule)
        self.thread = threading.get_ident()
        self.steps = 0
        self.epoch = 0
        self.started = time.perf_counter()
        self.losses: list[float] = []
        self._last_check = 0.0

    def loss_hook(self, _module: Any, _inputs: Any, output: Any) -> None:
        # a loss module's forward output is the batch loss (AutoEncoder's MSELoss)
        if threading.get_ident() == self.thread and hasattr(output, "item"):
            with contextlib.suppress(RuntimeError, ValueError):
                self.losses.append(float(output.detach().mean().item()))

    def step_hook(self, _optimizer: Any, _args: Any, _kwargs: Any) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's fit
        self.steps += 1
        now = time.perf_counter()
        ended = False
        while self.epoch < self.epochs and self.steps >= self.boundaries[self.epoch]:
            self.epoch += 1
            ended = True
            self._report(now)
        # asked at every epoch's end, and inside long epochs at most twice a second
        if self.should_stop is not None and (ended or now - self._last_check >= 0.5):
            self._last_check = now
            if self.should_stop():
                raise Cancelled("stopped on request")

    def _report(self, now: float) -> None:
        if self.on_epoch is None:
            return
        elapsed = now - self.started
        loss = _last_loss(self.estimator)
        if loss is None and self.losses:
            loss = float(np.mean(self.losses))
        self.losses = []
        remaining = self.epochs - self.epoch
        self.on_epoch(
            {
                "epoch": self.epoch,
                "epochs": self.epochs,
                "loss": None if loss is None or not math.isfinite(loss) else round(loss, 6),
                "eta_seconds": round(elapsed / self.epoch * remaining, 1),
                "elapsed_seconds": round(elapsed, 1),
            }
        )

    def finish(self) -> None:
        # epochs with no steps (fewer rows than a batch) still end
        while self.epoch < self.epochs:
            self.epoch += 1
            self._report(time.perf_counter())


def fix_devnet_loss() -> None:
    """PyOD 3.6.7's DevNet trains with ``deviation_loss(outputs, labels)`` although the
    function is ``deviation_loss(y_true, y_pred)``: the network learns from its own outputs
    as labels and ranks the labelled anomalies lowest (ROC-AUC 0.0 on blobs with 8 labelled
    anomalies; 1.0 with the arguments in order). Put the arguments in order (idempotent:
    the corrected function is marked)."""
    import pyod.models.devnet as module

    current = module.deviation_loss
    if getattr(current, "_pynomaly_fixed", False):
        return

    def deviation_loss(outputs: Any, labels: Any) -> Any:
        return current(labels.reshape(-1), outputs.reshape(-1))

    deviation_loss._pynomaly_fixed = True  # type: ignore[attr-defined]
    module.deviation_loss = deviation_loss


@contextlib.contextmanager
def training(
    key: str,
    estimator: Any,
    *,
    rows: int,
    y: np.ndarray | None = None,
    on_epoch: EpochCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Around ``estimator.fit``: report each epoch to ``on_epoch`` and stop on request.

    ``on_epoch`` gets ``{"epoch", "epochs", "loss", "eta_seconds", "elapsed_seconds"}``
    (``loss`` is None for detectors that keep no loss we can read). ``should_stop`` is
    asked at the end of every epoch and, inside an epoch, at most twice a second between
    optimizer steps; True raises Cancelled.
    """
    import io

    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    if key == "devnet":
        fix_devnet_loss()
    observer = _Observer(estimator, epoch_steps(key, estimator, rows, y), on_epoch, should_stop)
    handles = [register_optimizer_step_post_hook(observer.step_hook)]
    criterion = vars(estimator).get("criterion")
    if isinstance(criterion, torch.nn.Module):
        handles.append(criterion.register_forward_hook(observer.loss_hook))
    try:
        # SO_GAAL, MO_GAAL and DevNet print every epoch on stdout whatever ``verbose`` says;
        # the CLI's stdout carries results (JSON, tables), so their prints are dropped
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        observer.finish()
    finally:
        for handle in handles:
            handle.remove()


# -- saving -------------------------------------------------------------------------------


def _class_path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _modules(estimator: Any) -> dict[str, Any]:
    """Networks the fitted detector holds: ``name`` or ``name.i`` (lists) -> module."""
    import torch

    found: dict[str, Any] = {}
    for name, value in vars(estimator).items():
        if isinstance(value, torch.nn.Module) and name != "criterion":
            found[name] = value
        elif isinstance(value, list) and value and isinstance(value[0], torch.nn.Module):
            for i, module in enumerate(value):
                found[f"{name}.{i}"] = module
    return found


def dumps(key: str, estimator: Any) -> bytes:
    """Bytes holding the fitted ``estimator``'s networks and fitted attributes.

    Raises
    ------
    TypeError
        A fitted attribute is of a kind this module does not know how to store safely.
    """
    import torch

    params = set(estimator.get_params())
    modules = _modules(estimator)
    module_roots = {name.split(".")[0] for name in modules}
    state: dict[str, Any] = {}
    for name, module in modules.items():
        for tensor_name, tensor in module.state_dict().items():
            state[f"{name}/{tensor_name}"] = tensor
    attributes: dict[str, Any] = {}
    sklearn: dict[str, Any] = {}
    for name, value in vars(estimator).items():
        if name in params or name in _NOT_SAVED or name in module_roots:
            continue
        if _class_path(value) in _SCALERS:
            sklearn[name] = {
                "class": _class_path(value),
                "params": value.get_params(),
                "fitted": {k: v for k, v in vars(value).items() if k.endswith("_")},
            }
        elif _class_path(value) == "sklearn.neighbors._unsupervised.NearestNeighbors":
            sklearn[name] = {
                "class": _class_path(value),
                "params": value.get_params(),
                "fit_X": np.asarray(value._fit_X),
            }
        elif name == "iForest_lst":
            import skops.io

            sklearn[name] = {"skops": np.frombuffer(skops.io.dumps(value), dtype=np.uint8)}
        elif isinstance(value, torch.Tensor):
            state[f"@{name}"] = value
        else:
            attributes[name] = value
    meta = {
        "key": key,
        "version": FORMAT_VERSION,
        "modules": sorted(modules),
        # PyOD leaves some networks in training mode (dropout on) after fit and scores
        # them so: keep each module's mode, or a reload would score differently
        "training": {name: bool(module.training) for name, module in modules.items()},
        "attributes": attributes,
        "sklearn": sklearn,
    }
    return torch_state.dumps(state, meta)


def loads(key: str, data: bytes, build: Callable[[int], Any], *, device: str = "cpu") -> Any:
    """The fitted detector held in :func:`dumps` bytes.

    ``build(n_features)`` returns a fresh estimator of ``key`` from the saved run's
    parameters (DeepSVDD is sized by its constructor); the networks are rebuilt on it
    and the saved state loaded into them.

    Raises
    ------
    ValueError
        The bytes are not a model of ``key`` in a format this release reads.
    """
    state, meta = torch_state.loads(data, map_location=device)
    if meta.get("key") != key or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a saved {key} model (or a newer format than this release reads)")
    _, n_features = meta["attributes"]["_pynomaly_shape"]
    estimator = build(int(n_features))
    place(estimator, device)
    for name, value in meta["attributes"].items():
        setattr(estimator, name, value)
    for name, value in state.items():
        if name.startswith("@"):
            setattr(estimator, name[1:], value)
    for name, spec in meta["sklearn"].items():
        setattr(estimator, name, _sklearn_object(spec))
    _BUILDERS[key](estimator)
    modules = _modules(estimator)
    if sorted(modules) != sorted(meta["modules"]):
        raise ValueError(f"the saved {key} networks do not match its parameters")
    for name, module in modules.items():
        prefix = f"{name}/"
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        module.to(device)
        module.train(bool(meta["training"].get(name, False)))
    if key == "dif":
        estimator.x_reduced_lst = []  # training representations: not needed to score
    return estimator


def _sklearn_object(spec: dict[str, Any]) -> Any:
    if "skops" in spec:
        import skops.io

        return skops.io.loads(
            spec["skops"].tobytes(),
            trusted=[
                "sklearn.ensemble._iforest.IsolationForest",
                "sklearn.tree._tree.Tree",
                "sklearn.tree._classes.ExtraTreeRegressor",
            ],
        )
    if spec["class"] in _SCALERS:
        from sklearn import preprocessing

        obj = getattr(preprocessing, spec["class"].rsplit(".", 1)[1])(**spec["params"])
        for k, v in spec["fitted"].items():
            setattr(obj, k, v)
        return obj
    if spec["class"] == "sklearn.neighbors._unsupervised.NearestNeighbors":
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(**spec["params"]).fit(spec["fit_X"])
    raise ValueError(f"unknown saved object {spec.get('class')!r}")


# One builder per detector: create the (untrained) networks as its ``fit`` does, from its
# constructor parameters and the fitted shapes already restored on it.


def _build_base_dl(est: Any) -> None:
    est.build_model()


def _build_deepsvdd(est: Any) -> None:
    from pyod.models.deep_svdd import InnerDeepSVDD

    est.model_ = InnerDeepSVDD(
        est.n_features,
        use_ae=est.use_ae,
        hidden_neurons=est.hidden_neurons,
        hidden_activation=est.hidden_activation,
        output_activation=est.output_activation,
        dropout_rate=est.dropout_rate,
        l2_regularizer=est.l2_regularizer,
    )


def _build_so_gaal(est: Any) -> None:
    from pyod.models.so_gaal import Discriminator, Generator

    n, d = est._pynomaly_shape
    est.discriminator = Discriminator(d, n)
    est.generator = Generator(d)


def _build_mo_gaal(est: Any) -> None:
    from pyod.models.mo_gaal import create_discriminator

    n, d = est._pynomaly_shape
    est.discriminator = create_discriminator(d, n)


def _build_lunar(est: Any) -> None:
    from pyod.models.lunar import SCORE_MODEL, WEIGHT_MODEL

    cls = SCORE_MODEL if est.model_type == "SCORE" else WEIGHT_MODEL
    est.network = cls(est.n_neighbours)


def _build_dif(est: Any) -> None:
    from pyod.models.dif import MLPnet

    _, d = est._pynomaly_shape
    est.net_lst = [
        MLPnet(
            n_features=d,
            n_hidden=est.hidden_neurons,
            n_output=est.representation_dim,
            activation=est.hidden_activation,
            skip_connection=est.skip_connection,
        )
        for _ in range(est.n_ensemble)
    ]


def _build_anogan(est: Any) -> None:
    from pyod.models.anogan import Discriminator, Generator, QueryModel

    est.generator = Generator(
        latent_dim_G=est.latent_dim_G,
        n_features=est.n_features_,
        G_layers=est.G_layers,
        dropout_rate=est.dropout_rate,
        activation_hidden=est.activation_hidden,
        output_activation=est.output_activation,
    )
    est.discriminator = Discriminator(
        n_features=est.n_features_,
        D_layers=est.D_layers,
        dropout_rate=est.dropout_rate,
        activation_hidden=est.activation_hidden,
    )
    est.query_model = QueryModel(est.generator, est.discriminator, est.latent_dim_G)


def _build_alad(est: Any) -> None:
    est._build_model()


def _build_ae1svm(est: Any) -> None:
    from pyod.models.ae1svm import InnerAE1SVM

    _, d = est._pynomaly_shape
    est.model = InnerAE1SVM(
        n_features=d,
        encoding_dim=32,
        rff_dim=est.kernel_approx_features,
        sigma=est.sigma,
        hidden_neurons=est.hidden_neurons,
        dropout_rate=est.dropout_rate,
        batch_norm=est.batch_norm,
        hidden_activation=est.hidden_activation,
    )


def _build_devnet(est: Any) -> None:
    from pyod.models.devnet import deviation_network

    _, d = est._pynomaly_shape
    est.model, _ = deviation_network(d, est.network_depth)


_BUILDERS: dict[str, Callable[[Any], None]] = {
    "autoencoder": _build_base_dl,
    "vae": _build_base_dl,
    "deepsvdd": _build_deepsvdd,
    "so_gaal": _build_so_gaal,
    "mo_gaal": _build_mo_gaal,
    "lunar": _build_lunar,
    "dif": _build_dif,
    "anogan": _build_anogan,
    "alad": _build_alad,
    "ae1svm": _build_ae1svm,
    "devnet": _build_devnet,
}


def record_shape(estimator: Any, X: np.ndarray) -> None:
    """Remember the training shape: some networks are sized by it and PyOD keeps none.
    Call before ``fit``."""
    estimator._pynomaly_shape = (int(X.shape[0]), int(X.shape[1]))


def seed(value: int) -> None:
    """Seed torch before a fit or a scoring call: VAE samples its latent code and DIF/
    AnoGAN draw random numbers while scoring, so a row's score depends on the seed only."""
    import torch

    torch.manual_seed(int(value))


# -- fine-tuning --------------------------------------------------------------------------


def warm_start(key: str, estimator: Any, base: Any) -> Any:
    """An estimator of ``key`` whose ``fit`` starts from ``base``'s trained network.

    PyOD's ``BaseDeepLearningDetector.fit`` builds its network through the public
    ``build_model`` hook; a subclass whose ``build_model`` loads the base weights makes
    ``fit`` continue training them (on the new data, for this estimator's epochs).

    Raises
    ------
    DetectorUnavailable
        ``key`` cannot be fine-tuned, or ``base`` is not a trained ``key`` of this width.
    """
    if key not in FINE_TUNABLE:
        raise DetectorUnavailable(
            f"{key} cannot be fine-tuned: its PyOD training loop always starts a new "
            "network (fine-tuning works for AutoEncoder and VAE)"
        )
    if type(base) is not type(estimator) and not isinstance(base, type(estimator)):
        raise DetectorUnavailable(
            f"the base model holds a {type(base).__name__}, not a {type(estimator).__name__}"
        )
    weights = {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    cls = type(estimator)
    warm_cls = _WARM_CLASSES.setdefault(cls, _warm_class(cls))
    warm = warm_cls(**estimator.get_params())
    warm.device = estimator.device
    warm._pynomaly_base_weights = weights
    warm._pynomaly_base_features = int(base.feature_size)
    return warm


_WARM_CLASSES: dict[type, type] = {}


def _warm_class(cls: Any) -> type:
    def build_model(self: Any) -> None:
        cls.build_model(self)
        if self.feature_size != self._pynomaly_base_features:
            raise DetectorUnavailable(
                f"the base model was trained on {self._pynomaly_base_features} features, "
                f"this data has {self.feature_size}"
            )
        self.model.load_state_dict(self._pynomaly_base_weights)

    return type(cls.__name__, (cls,), {"build_model": build_model, "__module__": cls.__module__})
