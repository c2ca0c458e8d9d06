"""The detector catalogue: what can be run, with which parameters, and how to build it.

The source of truth is PyOD's own knowledge base (``algorithms.json``, the file behind
``pyod.utils.ad_engine.ADEngine().list_detectors()``), filtered to shipped tabular
detectors, plus Pynomaly's DBSCAN detector. Parameters come from each class's
``__init__`` signature, read with :mod:`ast` from the source file, merged with the
knowledge base's ``default_params`` and our ranges.

Listing is lazy on purpose: the web process lists the catalogue on every page, and
importing a detector module pulls in numba, KMeans or torch. Nothing here imports
``pyod`` (even ``import pyod`` imports scikit-learn and numba); we locate its files
with :func:`importlib.util.find_spec` and read them as text.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import DetectorUnavailable, ParamError, UnknownDetector
from .graph_catalogue import graph_specs
from .onnx_export import EXPORTABLE as _ONNX_EXPORTABLE
from .params import _METRICS, HIDDEN, ParamSpec, param_specs

__all__ = [
    "DetectorSpec",
    "ParamSpec",
    "build_detector",
    "families",
    "get_detector",
    "list_detectors",
]

ComplexityClass = Literal["linear", "nlogn", "quadratic", "cubic"]


@dataclass(frozen=True)
class DetectorSpec:
    """Everything the platform knows about one detector (see the API contract).

    Added beyond the contract: ``supervised`` (needs labels, so not runnable by our
    unsupervised pipeline) and ``max_features`` (MAD works on one column only).
    """

    key: str
    short_name: str
    name: str
    family: str
    description: str
    avoid_when: str
    strengths: tuple[str, ...]
    weaknesses: tuple[str, ...]
    complexity_time: str
    complexity_space: str
    complexity_class: ComplexityClass
    params: tuple[ParamSpec, ...]
    requires: tuple[str, ...]
    available: bool
    unavailable_reason: str | None
    install_hint: str | None
    saveable: bool
    contributions: bool
    class_path: str
    benchmark_rank: int | None
    supervised: bool = False
    max_features: int | None = None
    # ``pynomaly export`` / the API can write a trained model of it as ONNX (pynomaly.onnx_export)
    onnx: bool = False
    param_index: dict[str, ParamSpec] = field(default_factory=dict, repr=False, compare=False)

    def param(self, name: str) -> ParamSpec:
        """The :class:`ParamSpec` called ``name`` (raises ParamError if unknown)."""
        try:
            return self.param_index[name]
        except KeyError:
            raise ParamError(name, self._unknown_message(name)) from None

    def _unknown_message(self, name: str) -> str:
        if name == "contamination":
            return "is set by the threshold, not per detector"
        if name in HIDDEN:
            return f"is managed by Pynomaly and cannot be set for {self.short_name}"
        known = ", ".join(p.name for p in self.params) or "none"
        return f"is not a parameter of {self.short_name} (accepted: {known})"

    def defaults(self) -> dict[str, Any]:
        """Default value of every exposed parameter."""
        return {p.name: p.default for p in self.params}

    def validate_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce user-given parameters and fill in defaults.

        Returns the full parameter dict (every exposed parameter), so a stored
        configuration stays explicit even if a default changes later.

        Raises
        ------
        ParamError
            On an unknown or hidden parameter, or a bad value.
        """
        values = self.defaults()
        for name, raw_value in dict(raw or {}).items():
            values[name] = self.param(name).coerce(raw_value)
        return values

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description of the detector."""
        data = asdict(self)
        data.pop("param_index")
        data["params"] = [p.to_dict() for p in self.params]
        for key in ("strengths", "weaknesses", "requires"):
            data[key] = list(data[key])
        return data


# --- Facts we verified and PyOD does not record ---------------------------------------

# Round-trip through skops gives identical scores (tests/engine/test_contract.py checks
# every entry in this set and that the others really fail). LMDD keeps a generator.
_UNSAVEABLE = frozenset({"LMDD"})
# Per-feature scores available without extra work (ECOD/COPOD keep them in ``O``).
_CONTRIBUTIONS = frozenset({"ECOD", "COPOD"})
# Need labelled anomalies to train: they run on the labelled path (a training label
# column, as for LabelBoost); XGBOD needs xgboost, which is not installed.
_SUPERVISED = frozenset({"XGBOD", "DevNet"})
_LABELLED_RUNNABLE = frozenset({"DevNet"})
# Extra requirements the knowledge base misses: SUOD combines with PyOD's
# ``combination`` module, which imports ``combo``; DIF builds torch networks.
_EXTRA_REQUIRES = {"SUOD": ("combo",), "DIF": ("torch",)}
# Disabled after measuring: on easy synthetic outliers RGraph scores them *lowest*
# (ROC-AUC 0.01), on ADBench WBC 0.03; and scoring new rows takes seconds per hundred.
_BROKEN = {"RGraph": "its scores point the wrong way in PyOD 3.6.7 (ROC-AUC 0.03 on ADBench WBC)"}
# The knowledge base says O(n^2 d) for LOCI; measured, 315 rows take 52 s: cubic.
_COMPLEXITY_OVERRIDE: dict[str, ComplexityClass] = {"LOCI": "cubic"}
_INSTALL_HINTS = {
    "torch": "pip install 'pynomaly[deep]'",
    "xgboost": "pip install 'pynomaly[xgboost]'",
}
_MAX_FEATURES = {"MAD": 1}
# "graph" is the family of detectors for graph data (pynomaly.graph_catalogue); the tabular
# detectors PyOD files under "graph" (LUNAR, RGraph) build a graph over the rows.
_TABULAR_FAMILY = {"graph": "row graph"}


def complexity_class_of(text: str) -> ComplexityClass:
    """Reduce a big-O text from the knowledge base to a class the cost guard uses.

    We take the worst term in ``n`` (rows): ``n^3`` -> cubic, ``n^2`` -> quadratic,
    ``n log n`` -> nlogn, otherwise linear. Unknown costs ("varies") count as
    quadratic so the guard errs on the careful side.
    """
    normalised = text.replace(" ", "").lower()
    if re.search(r"(?<![a-z_])n\^3", normalised):
        return "cubic"
    if re.search(r"(?<![a-z_])n\^2", normalised) or "varies" in normalised:
        return "quadratic"
    if "log(n)" in normalised or "logn" in normalised:
        return "nlogn"
    return "linear"


def _pyod_root() -> Path:
    spec = importlib.util.find_spec("pyod")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PyOD is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _init_signature(source_file: Path, class_name: str) -> dict[str, Any] | None:
    """Defaults of ``class_name.__init__`` read from source, without importing it."""
    try:
        tree = ast.parse(source_file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                return _literal_defaults(item.args)
    return None


def _literal_defaults(args: ast.arguments) -> dict[str, Any]:
    positional = args.posonlyargs + args.args
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [
        (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    ]
    defaults: dict[str, Any] = {}
    for arg, node in pairs:
        try:
            defaults[arg.arg] = ast.literal_eval(node)
        except ValueError:
            defaults[arg.arg] = _NOT_LITERAL  # e.g. torch.nn.MSELoss: never exposed
    return defaults


class _NotLiteral:
    def __repr__(self) -> str:
        return "<not a literal>"


_NOT_LITERAL = _NotLiteral()


def _availability(
    short_name: str, requires: tuple[str, ...]
) -> tuple[bool, str | None, str | None]:
    if short_name in _BROKEN:
        return False, _BROKEN[short_name], None
    if short_name in _SUPERVISED and short_name not in _LABELLED_RUNNABLE:
        reason = "needs labelled anomalies to train; Pynomaly's detection is unsupervised"
        missing = [r for r in requires if importlib.util.find_spec(r) is None]
        hint = " && ".join(_INSTALL_HINTS.get(m, f"pip install {m}") for m in missing) or None
        return False, reason, hint
    missing = [r for r in requires if importlib.util.find_spec(r) is None]
    if not missing:
        return True, None, None
    hints = []
    for name in missing:
        hint = _INSTALL_HINTS.get(name, f"pip install {name}")
        if hint not in hints:
            hints.append(hint)
    return False, f"needs {', '.join(missing)}, which is not installed", " && ".join(hints)


def _spec_from_kb(short_name: str, entry: dict[str, Any], root: Path) -> DetectorSpec:
    class_path = entry["class_path"]
    module, _, class_name = class_path.rpartition(".")
    source = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    signature = _init_signature(source, class_name)
    kb_defaults = dict(entry.get("default_params") or {})
    if signature is None:
        signature = kb_defaults
    requires = tuple(entry.get("requires") or ()) + _EXTRA_REQUIRES.get(short_name, ())
    available, reason, hint = _availability(short_name, requires)
    complexity = entry.get("complexity") or {}
    rank = (entry.get("benchmark_rank") or {}).get("ADBench_overall")
    params = param_specs(short_name, signature, kb_defaults)
    return DetectorSpec(
        key=short_name.lower(),
        short_name=short_name,
        name=entry.get("full_name") or short_name,
        family=_TABULAR_FAMILY.get(
            entry.get("category") or "other", entry.get("category") or "other"
        ),
        description=entry.get("best_for") or "",
        avoid_when=entry.get("avoid_when") or "",
        strengths=tuple(entry.get("strengths") or ()),
        weaknesses=tuple(entry.get("weaknesses") or ()),
        complexity_time=complexity.get("time", "unknown"),
        complexity_space=complexity.get("space", "unknown"),
        complexity_class=_COMPLEXITY_OVERRIDE.get(short_name)
        or complexity_class_of(complexity.get("time", "varies")),
        params=params,
        requires=requires,
        available=available,
        unavailable_reason=reason,
        install_hint=hint,
        saveable=short_name not in _UNSAVEABLE,
        contributions=short_name in _CONTRIBUTIONS,
        class_path=class_path,
        benchmark_rank=rank,
        supervised=short_name in _SUPERVISED,
        max_features=_MAX_FEATURES.get(short_name),
        onnx=short_name.lower() in _ONNX_EXPORTABLE,
        param_index={p.name: p for p in params},
    )


def _dbscan_spec() -> DetectorSpec:
    params = (
        ParamSpec(
            "eps",
            "float",
            0.5,
            minimum=0.0,
            exclusive_minimum=True,
            help="Neighbourhood radius (on scaled features)",
        ),
        ParamSpec("min_samples", "int", 5, minimum=1, help="Neighbours needed to be a core point"),
        ParamSpec("metric", "choice", "euclidean", choices=_METRICS, help="Distance metric"),
    )
    return DetectorSpec(
        key="dbscan",
        short_name="DBSCAN",
        name="Density-Based Spatial Clustering of Applications with Noise",
        family="proximity",
        description="Data with dense clusters of arbitrary shape; anomalies lie away from them",
        avoid_when="Densities differ a lot between clusters, or there are many features",
        strengths=(
            "Finds clusters of any shape",
            "Score has a plain meaning: distance to the nearest dense region",
        ),
        weaknesses=(
            "Sensitive to eps, which depends on feature scaling",
            "Neighbour search is slow on large, high-dimensional data",
        ),
        complexity_time="O(n * log(n)) to O(n^2)",
        complexity_space="O(n)",
        complexity_class="quadratic",
        params=params,
        requires=(),
        available=True,
        unavailable_reason=None,
        install_hint=None,
        saveable=True,
        contributions=False,
        class_path="pynomaly.detectors_extra.DBSCANDetector",
        benchmark_rank=None,
        param_index={p.name: p for p in params},
    )


def _internal_spec(
    key: str,
    short_name: str,
    name: str,
    description: str,
    params: tuple[ParamSpec, ...],
    class_path: str,
    *,
    supervised: bool,
    saveable: bool,
) -> DetectorSpec:
    return DetectorSpec(
        key=key,
        short_name=short_name,
        name=name,
        family="automatic",
        description=description,
        avoid_when="",
        strengths=(),
        weaknesses=(),
        complexity_time="O(n * log(n)) per chosen detector",
        complexity_space="O(n)",
        complexity_class="nlogn",
        params=params,
        requires=(),
        available=True,
        unavailable_reason=None,
        install_hint=None,
        saveable=saveable,
        contributions=False,
        class_path=class_path,
        benchmark_rank=None,
        supervised=supervised,
        param_index={p.name: p for p in params},
    )


@functools.cache
def _internal() -> dict[str, DetectorSpec]:
    """Keys accepted wherever a detector key is, but not listed as detectors of their own:
    ``auto`` (resolved by :mod:`pynomaly.automl` before fitting) and the label-trained
    detector it may choose (:mod:`pynomaly.supervised`)."""
    auto = _internal_spec(
        "auto",
        "Automatic",
        "Automatic selection",
        "Pynomaly chooses and combines detectors from the data's profile (and training "
        "labels, when given)",
        (
            ParamSpec(
                "max_detectors",
                "int",
                3,
                minimum=1,
                maximum=5,
                help="Most detectors in the chosen ensemble (1: one detector; 2 or more: "
                "the best pair)",
            ),
        ),
        "pynomaly.automl.select",
        supervised=False,
        saveable=True,
    )
    boost = _internal_spec(
        "labelboost",
        "LabelBoost",
        "Gradient boosting on detector scores, trained on labels",
        "Chosen by automatic selection when training labels show it ranks best",
        (
            ParamSpec("booster", "choice", "lightgbm", choices=("lightgbm", "xgbod")),
            ParamSpec("base", "str", "iforest,ecod,hbos", help="Base detectors (keys)"),
            ParamSpec("blend", "float", 0.0, minimum=0.0, maximum=10.0),
            ParamSpec("n_estimators", "int", 100, minimum=1, maximum=5000),
        ),
        "pynomaly.supervised.LabelBoost",
        supervised=True,
        saveable=True,
    )
    near = _internal_spec(
        "labelnear",
        "LabelNear",
        "Detector consensus raised near the known anomalies",
        "Chosen by automatic selection when training labels hold too few known anomalies "
        "to cross-validate a label-trained model",
        (
            ParamSpec("base", "str", "iforest,knn", help="Base detectors (keys)"),
            ParamSpec(
                "width",
                "float",
                2.0,
                minimum=0.1,
                maximum=100.0,
                help="Reach of a known anomaly, in typical neighbour distances",
            ),
        ),
        "pynomaly.supervised.LabelNear",
        supervised=True,
        saveable=True,
    )
    return {auto.key: auto, boost.key: boost, near.key: near}


@functools.cache
def _catalogue() -> dict[str, DetectorSpec]:
    root = _pyod_root()
    entries = json.loads(
        (root / "utils" / "knowledge" / "algorithms.json").read_text(encoding="utf-8")
    )
    specs = [
        _spec_from_kb(name, entry, root)
        for name, entry in entries.items()
        if "tabular" in entry.get("data_types", ()) and entry.get("status") == "shipped"
    ]
    specs.append(_dbscan_spec())
    specs.extend(graph_specs(entries, root, _spec_from_kb))  # the graph family
    from . import ts_detectors  # the "time series" family (pynomaly.timeseries runs it)

    specs.extend(ts_detectors.specs(entries))
    # Benchmark-ranked detectors first (best first), then what runs here, by name.
    specs.sort(
        key=lambda s: (
            s.benchmark_rank is None,
            s.benchmark_rank or 0,
            not s.available,
            s.short_name.lower(),
        )
    )
    return {s.key: s for s in specs}


def list_detectors(
    *, family: str | None = None, available: bool | None = None
) -> list[DetectorSpec]:
    """Catalogue entries, benchmark-ranked first, then by name.

    Parameters
    ----------
    family : str, optional
        Keep only this family (see :func:`families`).
    available : bool, optional
        Keep only entries that can (True) or cannot (False) run here.
    """
    return [
        spec
        for spec in _catalogue().values()
        if (family is None or spec.family == family)
        and (available is None or spec.available == available)
    ]


def get_detector(key: str) -> DetectorSpec:
    """The entry for ``key`` (case-insensitive); raises :class:`UnknownDetector`."""
    name = str(key).strip().lower()
    spec = _catalogue().get(name) or _internal().get(name)
    if spec is None:
        raise UnknownDetector(
            f"unknown detector {key!r}; list the keys with `pynomaly detectors` "
            "or pynomaly.catalogue.list_detectors()"
        )
    return spec


def families() -> list[str]:
    """Detector families present in the catalogue, sorted."""
    return sorted({spec.family for spec in _catalogue().values()})


def _lscp_base_detectors() -> list[Any]:
    # LSCP needs a pool of base detectors and has no default; LOF at several
    # neighbourhood sizes is the pool its authors use in their examples.
    from pyod.models.lof import LOF

    return [LOF(n_neighbors=k) for k in (5, 10, 20, 30, 40)]


def build_detector(
    key: str,
    params: Mapping[str, Any],
    *,
    seed: int,
    contamination: float = 0.1,
    n_features: int | None = None,
) -> Any:
    """Instantiate the (unfitted) estimator for ``key``.

    Parameters are validated again here so a hand-built config cannot slip past.
    ``random_state`` is set wherever the class accepts one, so a seed reproduces runs;
    logging switches are turned off.

    Raises
    ------
    UnknownDetector, ParamError, DetectorUnavailable
    """
    spec = get_detector(key)
    if spec.key == "auto":
        raise ParamError("detectors", "'auto' is resolved into detectors before fitting")
    if not spec.available:
        hint = f" Install with: {spec.install_hint}" if spec.install_hint else ""
        raise DetectorUnavailable(
            f"{spec.short_name} cannot run here: {spec.unavailable_reason}.{hint}"
        )
    kwargs = spec.validate_params(params)
    module_name, _, class_name = spec.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise DetectorUnavailable(f"{spec.short_name} cannot be imported: {exc}") from exc
    accepted = _accepted_args(spec.key)
    if "random_state" in accepted:
        kwargs["random_state"] = seed
    if "verbose" in accepted:
        kwargs["verbose"] = False if isinstance(accepted["verbose"], bool) else 0
    if "contamination" in accepted:
        kwargs["contamination"] = contamination
    if spec.short_name == "LSCP":
        kwargs["detector_list"] = _lscp_base_detectors()
    if spec.short_name == "DeepSVDD":  # sizes its network in the constructor (required)
        if n_features is None:
            raise ParamError("n_features", f"{spec.short_name} needs the number of features")
        kwargs["n_features"] = int(n_features)
    return cls(**kwargs)


@functools.cache
def _accepted_args(key: str) -> dict[str, Any]:
    spec = get_detector(key)
    if spec.key == "dbscan":
        return {"contamination": 0.1}
    if spec.key in ("labelboost", "labelnear"):
        return {"contamination": 0.1, "random_state": None}
    module, _, class_name = spec.class_path.rpartition(".")
    source = _pyod_root().joinpath(*module.split(".")[1:]).with_suffix(".py")
    return _init_signature(source, class_name) or {}
