"""Save and load fitted pipelines as skops files, verified before they are parsed.

A model file can execute code if it is a pickle, so we never write or read pickles.
skops stores objects as a schema and refuses types nobody trusted; we trust only
the types listed below, written per detector after checking what each one holds
(``tests/engine/test_contract.py`` saves and reloads every saveable detector). The
file's SHA-256 is checked *before* skops parses anything: a modified file is
refused outright.

Layout of the stored object: a plain dict (format tag and version, library versions,
the pipeline config as JSON-able dict, the preparer's plain state, the fitted
estimators, and the training-score statistics).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from . import catalogue
from .errors import ArtifactError
from .pipeline import FittedPipeline, PipelineConfig
from .prepare import Preparer

FORMAT = "pynomaly-model"
# Version 2: deep detectors are stored as {"deep": key, "torch": bytes} entries holding
# their networks' state (pynomaly.deep, read back with torch.load(weights_only=True)).
# Files without a deep detector are still written as version 1.
FORMAT_VERSION = 1
DEEP_FORMAT_VERSION = 2
SUPPORTED_VERSIONS = frozenset({1, 2})

# sklearn internals that neighbour-based and tree-based detectors keep. They are data
# structures (trees, distance metrics), not callables.
_NEIGHBOURS = (
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)
_TREES = ("sklearn.tree._tree.Tree",)

# Types each detector's fitted estimator may contain, beyond what skops trusts by
# default (numpy arrays, builtins, scikit-learn estimators).
_TRUSTED_BY_DETECTOR: dict[str, tuple[str, ...]] = {
    "abod": ("pyod.models.abod.ABOD", *_NEIGHBOURS),
    "cblof": ("pyod.models.cblof.CBLOF",),
    "cd": ("pyod.models.cd.CD",),
    "cof": ("pyod.models.cof.COF",),
    "copod": ("pyod.models.copod.COPOD",),
    "dbscan": ("pynomaly.detectors_extra.DBSCANDetector", *_NEIGHBOURS),
    "ecod": ("pyod.models.ecod.ECOD",),
    "gmm": ("pyod.models.gmm.GMM",),
    "hbos": ("pyod.models.hbos.HBOS",),
    "hdbscan": ("pyod.models.hdbscan.HDBSCAN", *_NEIGHBOURS),
    "iforest": ("pyod.models.iforest.IForest", *_TREES),
    "inne": ("pyod.models.inne.INNE",),
    "kde": ("pyod.models.kde.KDE", *_NEIGHBOURS),
    "knn": ("pyod.models.knn.KNN", *_NEIGHBOURS),
    "kpca": ("pyod.models.kpca.KPCA", "pyod.models.kpca.PyODKernelPCA"),
    "loci": ("pyod.models.loci.LOCI",),
    "loda": ("pyod.models.loda.LODA",),
    "lof": ("pyod.models.lof.LOF", *_NEIGHBOURS),
    "lscp": ("pyod.models.lscp.LSCP", "pyod.models.lof.LOF", *_NEIGHBOURS),
    "mad": ("pyod.models.mad.MAD",),
    "mcd": ("pyod.models.mcd.MCD",),
    "ocsvm": ("pyod.models.ocsvm.OCSVM",),
    "pca": ("pyod.models.pca.PCA",),
    "qmcd": ("pyod.models.qmcd.QMCD",),
    "rod": ("pyod.models.rod.ROD",),
    "sampling": ("pyod.models.sampling.Sampling", *_NEIGHBOURS),
    "sod": ("pyod.models.sod.SOD",),
    "sos": ("pyod.models.sos.SOS",),
}
# The label-trained detector (pynomaly.supervised): its base detectors plus the boosters.
# LightGBM's and XGBoost's Booster keep their own model format (text / binary) as state,
# which skops stores as str/bytes and hands back to the library's parser - no pickle.
_BOOSTERS = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "pyod.models.xgbod.XGBOD",
)
_ANY_BASE = tuple(sorted({t for types in _TRUSTED_BY_DETECTOR.values() for t in types}))
_TRUSTED_BY_DETECTOR["labelboost"] = ("pynomaly.supervised.LabelBoost", *_BOOSTERS, *_ANY_BASE)
# Its base detectors, the known anomalies' rows and floats.
_TRUSTED_BY_DETECTOR["labelnear"] = ("pynomaly.supervised.LabelNear", *_ANY_BASE)


def trusted_types(keys: Iterable[str] | None = None) -> list[str]:
    """The allowlist for the given detector keys (all keys when None)."""
    keys = _TRUSTED_BY_DETECTOR if keys is None else keys
    types: set[str] = set()
    for key in keys:
        types.update(_TRUSTED_BY_DETECTOR.get(key, ()))
    return sorted(types)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sidecar_path(path: str | os.PathLike[str]) -> str:
    return f"{os.fspath(path)}.sha256"


def save(fitted: FittedPipeline, path: str | os.PathLike[str]) -> str:
    """Write ``fitted`` to ``path`` (skops) and ``path.sha256``; return the SHA-256.

    Raises
    ------
    ArtifactError
        When a detector cannot be stored safely; such pipelines are refit when needed.
    """
    import skops.io

    from . import deep

    for key in fitted.keys:
        spec = catalogue.get_detector(key)
        if deep.is_deep(key):
            continue
        if not spec.saveable or key not in _TRUSTED_BY_DETECTOR:
            raise ArtifactError(
                f"{spec.short_name} models cannot be saved (skops cannot hold them); "
                "the pipeline is refit when it is needed"
            )
    stored: list[Any] = []
    for key, estimator in zip(fitted.keys, fitted.detectors_, strict=True):
        if deep.is_deep(key):
            try:
                stored.append({"deep": key, "torch": deep.dumps(key, estimator)})
            except (TypeError, ValueError) as exc:
                raise ArtifactError(f"the {key} model could not be saved: {exc}") from exc
        else:
            stored.append(estimator)
    has_deep = any(deep.is_deep(key) for key in fitted.keys)
    payload = {
        "format": FORMAT,
        "format_version": DEEP_FORMAT_VERSION if has_deep else FORMAT_VERSION,
        "versions": _library_versions(),
        "config": fitted.config.to_dict(),
        "preparer": fitted.preparer.to_state(),
        "detectors": stored,
        "state": {
            "threshold": float(fitted.threshold_),
            "score_mean": np.asarray(fitted.score_mean_, dtype=np.float64),
            "score_std": np.asarray(fitted.score_std_, dtype=np.float64),
            "severity_grid": np.asarray(fitted.severity_grid_, dtype=np.float64),
            "train_scores": np.asarray(fitted.train_scores_, dtype=np.float64),
            "feature_names": list(fitted.feature_names),
            "fit_seconds": float(fitted.fit_seconds),
            "n_train": int(fitted.n_train),
            "notes": list(fitted.notes),
            "selection": fitted.selection or {},
            "device": fitted.device or "",
        },
    }
    try:
        data = skops.io.dumps(payload)
    except Exception as exc:
        raise ArtifactError(f"the model could not be saved: {exc}") from exc
    digest = _sha256(data)
    target = Path(path)
    _write_atomically(target, data)
    _write_atomically(Path(sidecar_path(target)), f"{digest}  {target.name}\n".encode())
    return digest


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def load(path: str | os.PathLike[str], *, sha256: str | None = None) -> FittedPipeline:
    """Read a model saved by :func:`save`, after checking its SHA-256.

    Parameters
    ----------
    path : str or Path
    sha256 : str, optional
        Expected digest (e.g. from the database); else the ``.sha256`` sidecar is used.

    Raises
    ------
    ArtifactError
        Modified or unverifiable file, unknown format version, untrusted types.
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"model file cannot be read: {exc}") from exc
    expected = sha256 if sha256 is not None else _read_sidecar(target)
    if not hmac.compare_digest(_sha256(data), expected.strip().lower()):
        raise ArtifactError(
            "model file was modified after it was saved (checksum mismatch); refusing to load it"
        )
    from . import ts_model

    if ts_model.is_ts_model(data):
        raise ArtifactError(
            "this is a time-series model: it scores whole series, not single records; "
            "start a run that scores a dataset with it"
        )
    return _pipeline_from_payload(load_trusted_skops(data, trusted_types(), what="model file"))


def load_trusted_skops(data: bytes, allowed: list[str], *, what: str) -> Any:
    """``data`` (skops bytes) loaded after checking it holds only ``allowed`` types.

    ``what`` names the thing in the messages ("model file", "the base detector").
    """
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:
        raise ArtifactError(f"{what} is not a readable skops file: {exc}") from exc
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise ArtifactError(
            "model file holds types Pynomaly does not trust: " + ", ".join(unexpected)
        )
    try:
        return skops.io.loads(data, trusted=allowed)
    except Exception as exc:
        raise ArtifactError(f"{what} cannot be loaded: {exc}") from exc


def _read_sidecar(target: Path) -> str:
    try:
        text = Path(sidecar_path(target)).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise ArtifactError(
            "model file was modified or its checksum file is missing; refusing to load it"
        ) from None
    parts = text.split()
    if not parts:
        raise ArtifactError("model checksum file is empty; refusing to load the model")
    return parts[0]


def _pipeline_from_payload(payload: Any) -> FittedPipeline:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtifactError("this file is not a Pynomaly model")
    version = payload.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ArtifactError(
            f"model format version {version!r} is not supported by this Pynomaly "
            f"(supported: {', '.join(map(str, sorted(SUPPORTED_VERSIONS)))})"
        )
    try:
        config = PipelineConfig.from_dict(payload["config"])
        preparer = Preparer.from_state(payload["preparer"])
        detectors = list(payload["detectors"])
        state = payload["state"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"model file is incomplete: {exc}") from exc
    if len(detectors) != len(config.detectors):
        raise ArtifactError("model file is inconsistent: detector count differs from config")
    detectors = [
        _load_deep(config, key, params, entry, version)
        for (key, params), entry in zip(config.detectors, detectors, strict=True)
    ]
    for (key, _), estimator in zip(config.detectors, detectors, strict=True):
        # the object must be exactly the class the config names, nothing else
        expected = catalogue.get_detector(key).class_path
        actual = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
        if actual != expected:
            raise ArtifactError(f"model file is inconsistent: {key} holds a {actual}")
    fitted = FittedPipeline(config, preparer, detectors)
    fitted.threshold_ = float(state["threshold"])
    fitted.score_mean_ = np.asarray(state["score_mean"], dtype=np.float64)
    fitted.score_std_ = np.asarray(state["score_std"], dtype=np.float64)
    fitted.severity_grid_ = np.asarray(state["severity_grid"], dtype=np.float64)
    fitted.train_scores_ = np.asarray(state["train_scores"], dtype=np.float64)
    fitted.feature_names = list(state["feature_names"])
    fitted.fit_seconds = float(state["fit_seconds"])
    fitted.n_train = int(state["n_train"])
    fitted.notes = list(state.get("notes", []))
    fitted.selection = dict(state.get("selection") or {}) or None
    fitted.device = state.get("device") or None
    fitted.decision_functions()  # fast paths checked against PyOD now, not on a first request
    return fitted


def _load_deep(
    config: PipelineConfig, key: str, params: dict[str, Any], entry: Any, version: Any
) -> Any:
    """The estimator for ``entry``: itself, or a deep detector rebuilt from its stored state."""
    from . import deep

    if not deep.is_deep(key):
        return entry
    if version != DEEP_FORMAT_VERSION or not (
        isinstance(entry, dict)
        and entry.get("deep") == key
        and isinstance(entry.get("torch"), bytes)
    ):
        raise ArtifactError(f"model file is inconsistent: {key} holds no stored network")
    threshold = config.threshold
    contamination = (
        threshold.value if threshold.kind == "contamination" and threshold.value else 0.1
    )
    device = deep.resolve_device()

    def build(n_features: int) -> Any:
        return catalogue.build_detector(
            key, params, seed=config.seed, contamination=contamination, n_features=n_features
        )

    try:
        return deep.loads(key, entry["torch"], build, device=device)
    except Exception as exc:  # torch refuses anything but tensors and plain values
        raise ArtifactError(f"the {key} network cannot be loaded: {exc}") from exc


def _library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in ("pynomaly", "pyod", "scikit-learn", "numpy", "skops", "torch"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
