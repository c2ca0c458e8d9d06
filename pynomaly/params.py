"""Detector parameters: the typed spec and the ranges we allow for each detector.

Kinds and defaults come from each class's ``__init__`` signature; this module adds
what a signature cannot say: ranges, choices, and which arguments are plumbing
that users must not set.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import ParamError

ParamKind = Literal["int", "float", "bool", "str", "choice"]

_NONE_WORDS = {"none", "null", ""}
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class ParamSpec:
    """One user-settable detector parameter.

    Parameters
    ----------
    name, kind, default, minimum, maximum, choices, help
        As in the API contract; ``minimum``/``maximum`` are inclusive unless
        ``exclusive_minimum`` is set.
    nullable : bool
        ``None`` is accepted (meaning "let the algorithm decide").
    special : tuple of str
        Words accepted besides numbers, e.g. ``("auto",)`` for ``max_samples``.
    exclusive_minimum : bool
        The value must be strictly greater than ``minimum`` (fractions in (0, 1]).
    """

    name: str
    kind: ParamKind
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    nullable: bool = False
    special: tuple[str, ...] = ()
    exclusive_minimum: bool = False

    def coerce(self, raw: Any) -> Any:
        """Turn a value from a form, JSON or the CLI into the typed value.

        Raises
        ------
        ParamError
            When the value has the wrong type, is out of range or not a choice.
        """
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_WORDS):
            if self.nullable or self.default is None:
                return None
            raise ParamError(self.name, "a value is required")
        if isinstance(raw, str):
            word = raw.strip()
            for special in self.special:
                if word.lower() == special.lower():
                    return special
        else:
            word = raw
        if self.kind == "bool":
            return self._coerce_bool(word)
        if self.kind == "int":
            value: float = self._coerce_int(word)
        elif self.kind == "float":
            value = self._coerce_float(word)
        elif self.kind == "choice":
            return self._coerce_choice(word)
        else:
            if not isinstance(word, str):
                raise ParamError(self.name, f"must be text, not {word!r}")
            return word
        self._check_range(value)
        return value

    def _coerce_bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.lower() in _TRUE_WORDS | _FALSE_WORDS:
            return raw.lower() in _TRUE_WORDS
        raise ParamError(self.name, f"must be true or false, not {raw!r}")

    def _coerce_int(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ParamError(self.name, f"must be a whole number, not {raw!r}")
        if isinstance(raw, int):
            return raw
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ParamError(self.name, f"must be a whole number, not {raw!r}") from None
        if not number.is_integer():
            raise ParamError(self.name, f"must be a whole number, not {raw!r}")
        return int(number)

    def _coerce_float(self, raw: Any) -> float:
        if isinstance(raw, bool):
            raise ParamError(self.name, f"must be a number, not {raw!r}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ParamError(self.name, f"must be a number, not {raw!r}") from None
        if not math.isfinite(number):
            raise ParamError(self.name, "must be a finite number")
        return number

    def _coerce_choice(self, raw: Any) -> Any:
        choices = self.choices or ()
        if raw in choices:
            return raw
        if isinstance(raw, str):
            for choice in choices:
                if isinstance(choice, str) and choice.lower() == raw.lower():
                    return choice
        allowed = ", ".join(str(c) for c in choices)
        raise ParamError(self.name, f"must be one of {allowed}; got {raw!r}")

    def _check_range(self, value: float) -> None:
        low, high = self.minimum, self.maximum
        too_low = low is not None and (value <= low if self.exclusive_minimum else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            left = "(" if self.exclusive_minimum else "["
            low_text = "-inf" if low is None else f"{low:g}"
            high_text = "inf" if high is None else f"{high:g}"
            raise ParamError(self.name, f"must be in {left}{low_text}, {high_text}]; got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, for forms and the API."""
        data = asdict(self)
        data["choices"] = list(self.choices) if self.choices is not None else None
        data["special"] = list(self.special)
        return data


# --- Parameters -----------------------------------------------------------------------

# Plumbing that users must not set: the threshold owns contamination, the platform
# owns parallelism, seeds and logging, and object-valued arguments cannot come from
# a form.
HIDDEN = frozenset(
    """contamination n_jobs random_state verbose copy copy_X cache_size check_estimator
    leaf_size metric_params kernel_params parallel_execution novelty behaviour
    blocksize_test_data warm_start store_precision model clustering_estimator means_init
    weights_init precisions_init detector_list base_estimator base_estimators
    iterated_power remove_zero_eig max_iter eigen_solver tol device""".split()
)

_METRICS = ("euclidean", "manhattan", "chebyshev", "minkowski")
_TREE_ALGOS = ("auto", "ball_tree", "kd_tree", "brute")
_POSITIVE_INT = {"kind": "int", "minimum": 1}
_FRACTION = {"kind": "float", "minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True}

# Ranges and kinds by parameter name, valid for every detector that has it.
_COMMON: dict[str, dict[str, Any]] = {
    "n_neighbors": {**_POSITIVE_INT, "help": "Neighbours considered per point"},
    "n_estimators": {**_POSITIVE_INT, "help": "Number of base models"},
    "max_samples": {
        **_FRACTION,
        "special": ("auto",),
        "help": "Fraction of rows drawn per base model, or auto",
    },
    "max_features": {**_FRACTION, "help": "Fraction of features drawn per base model"},
    "metric": {"kind": "choice", "choices": _METRICS, "help": "Distance metric"},
    "algorithm": {"kind": "choice", "choices": _TREE_ALGOS, "help": "Neighbour search"},
    "p": {**_POSITIVE_INT, "help": "Power of the Minkowski metric"},
    "n_bins": {"kind": "int", "minimum": 2, "special": ("auto",), "help": "Histogram bins"},
    "n_components": {**_POSITIVE_INT, "nullable": True, "help": "Components kept (blank: all)"},
    "n_selected_components": {**_POSITIVE_INT, "nullable": True},
    "subset_size": {**_POSITIVE_INT, "help": "Rows in the reference subset"},
    "kernel": {"kind": "choice", "choices": ("linear", "poly", "rbf", "sigmoid")},
    "degree": {**_POSITIVE_INT, "help": "Degree of the polynomial kernel"},
    "bootstrap": {"kind": "bool", "help": "Draw rows with replacement"},
}

# Per-detector ranges, where the same name means different things.
_SPECIFIC: dict[str, dict[str, dict[str, Any]]] = {
    "ABOD": {"method": {"kind": "choice", "choices": ("fast", "default")}},
    "MAD": {"threshold": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True}},
    "SOS": {
        "perplexity": {"kind": "float", "minimum": 1.0, "help": "Effective neighbours"},
        "metric": {"kind": "choice", "choices": ("euclidean",)},
        "eps": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True},
    },
    "KDE": {"bandwidth": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True}},
    "GMM": {
        "covariance_type": {"kind": "choice", "choices": ("full", "tied", "diag", "spherical")},
        "init_params": {
            "kind": "choice",
            "choices": ("kmeans", "k-means++", "random", "random_from_data"),
        },
        "reg_covar": {"kind": "float", "minimum": 0.0},
        "n_init": _POSITIVE_INT,
    },
    "PCA": {"svd_solver": {"kind": "choice", "choices": ("auto", "full", "arpack", "randomized")}},
    "KPCA": {
        "kernel": {"kind": "choice", "choices": ("linear", "poly", "rbf", "sigmoid", "cosine")},
        "alpha": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True},
        "gamma": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True, "nullable": True},
        "coef0": {"kind": "float"},
    },
    "MCD": {"support_fraction": {**_FRACTION, "nullable": True}},
    "OCSVM": {
        "gamma": {
            "kind": "float",
            "minimum": 0.0,
            "exclusive_minimum": True,
            "special": ("auto", "scale"),
        },
        "nu": {**_FRACTION, "help": "Upper bound on the fraction of training errors"},
    },
    "LMDD": {
        "n_iter": _POSITIVE_INT,
        "dis_measure": {"kind": "choice", "choices": ("aad", "var", "iqr")},
    },
    "COF": {
        "n_neighbors": {"kind": "int", "minimum": 2},
        "method": {"kind": "choice", "choices": ("fast", "memory")},
    },
    "CBLOF": {
        "n_clusters": {"kind": "int", "minimum": 2},
        "alpha": {"kind": "float", "minimum": 0.5, "maximum": 1.0},
        "beta": {"kind": "float", "minimum": 1.0},
    },
    "LOCI": {"alpha": _FRACTION, "k": _POSITIVE_INT},
    "HBOS": {
        "alpha": {"kind": "float", "minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True},
        "tol": {"kind": "float", "minimum": 0.0, "maximum": 1.0},
    },
    "HDBSCAN": {
        "min_cluster_size": {"kind": "int", "minimum": 2},
        "min_samples": {**_POSITIVE_INT, "nullable": True},
        "alpha": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True},
        "algorithm": {"kind": "choice", "choices": ("auto", "brute", "kd_tree", "ball_tree")},
    },
    "KNN": {
        "method": {"kind": "choice", "choices": ("largest", "mean", "median")},
        "radius": {"kind": "float", "minimum": 0.0, "exclusive_minimum": True},
    },
    "SOD": {
        "n_neighbors": {"kind": "int", "minimum": 2},
        "ref_set": _POSITIVE_INT,
        "alpha": {"kind": "float", "minimum": 0.0, "maximum": 1.0, "exclusive_minimum": True},
    },
    "LSCP": {
        "local_region_size": {"kind": "int", "minimum": 2},
        "local_max_features": {"kind": "float", "minimum": 0.5, "maximum": 1.0},
    },
    "LODA": {"n_random_cuts": _POSITIVE_INT},
    "RGraph": {
        "transition_steps": _POSITIVE_INT,
        "n_nonzero": _POSITIVE_INT,
        "algorithm": {"kind": "choice", "choices": ("lasso_lars", "lasso_cd")},
    },
    "DIF": {"max_samples": _POSITIVE_INT},
    "FeatureBagging": {"check_detector": {"kind": "bool", "hidden": True}},
}

_KIND_OF_TYPE = {bool: "bool", int: "int", float: "float", str: "str"}


def param_specs(
    short_name: str, signature: dict[str, Any], kb_defaults: dict[str, Any]
) -> tuple[ParamSpec, ...]:
    specs = []
    for name, default in signature.items():
        if name in HIDDEN:
            continue
        default = kb_defaults.get(name, default)
        # A detector-specific rule replaces the common one: same name, other meaning.
        rule = dict(_SPECIFIC.get(short_name, {}).get(name) or _COMMON.get(name, {}))
        if rule.pop("hidden", False):
            continue
        if not rule:
            kind = _KIND_OF_TYPE.get(type(default))
            if kind is None:  # None or object-valued: nothing a form can express safely
                continue
            rule = {"kind": kind}
        if rule["kind"] == "float" and isinstance(default, int) and not isinstance(default, bool):
            default = float(default)
        specs.append(ParamSpec(name=name, default=default, **rule))
    return tuple(specs)
