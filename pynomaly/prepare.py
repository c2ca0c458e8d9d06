"""Turn a user's table into the float matrix a detector needs, the same way every time.

The fitted :class:`Preparer` holds only plain data (lists, dicts of floats, numpy
arrays) so that a saved model needs no extra trusted types, and so that scoring new
rows reproduces training exactly: same columns, same order, same encodings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from .errors import DataError

# How one input column becomes features: kind, features, median, categories, frequencies.
Step: TypeAlias = dict[str, Any]
# A step, or None with the reason the column is not a feature.
Planned: TypeAlias = tuple[Step, None] | tuple[None, str]


@dataclass(frozen=True)
class PrepareOptions:
    """How to prepare features.

    Parameters
    ----------
    scaling : {'standard', 'robust', 'none'}
        Standard: mean 0, std 1. Robust: median 0, IQR 1 (resists outliers, which
        matter here). Distance-based detectors need one of the two.
    encode_categoricals : bool
        Encode text columns (else they are dropped with a reason).
    impute : bool
        Replace missing and infinite numbers by the training median.
    drop_constant : bool
        Drop columns with a single value; they carry no signal and make PCA's
        scores infinite.
    max_onehot : int
        One-hot encode a text column with at most this many distinct values, else
        encode each value by its frequency in the training data.
    """

    scaling: Literal["standard", "robust", "none"] = "standard"
    encode_categoricals: bool = True
    impute: bool = True
    drop_constant: bool = True
    max_onehot: int = 10

    def __post_init__(self) -> None:
        if self.scaling not in ("standard", "robust", "none"):
            raise DataError(f"scaling must be standard, robust or none, not {self.scaling!r}")
        if int(self.max_onehot) < 1:
            raise DataError("max_onehot must be at least 1")

    @classmethod
    def none(cls) -> PrepareOptions:
        """Use numeric columns as they are: no scaling, encoding, imputation or dropping."""
        return cls(scaling="none", encode_categoricals=False, impute=False, drop_constant=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PrepareOptions:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown preparation options: {', '.join(sorted(unknown))}")
        return cls(**data)


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _is_bool(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    # object columns of True/False with gaps (pandas cannot give them a bool dtype)
    if series.dtype == object:
        values = series.dropna()
        return len(values) > 0 and bool(values.map(lambda v: isinstance(v, bool | np.bool_)).all())
    return False


def _is_datetime(series: pd.Series) -> bool:
    return bool(
        pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series)
    )


class Preparer:
    """Learns a preparation on training rows and applies it to any rows.

    Attributes
    ----------
    feature_names : list of str
        Names of the output columns, in order.
    input_columns : list of str
        Input columns the preparation reads (``transform`` needs them all).
    report : dict
        ``used``, ``dropped`` {column: reason}, ``encoded`` {column: kind},
        ``imputed`` {column: median}, ``scaling``, ``excluded``.
    """

    def __init__(self) -> None:
        self.options: dict[str, Any] = PrepareOptions().to_dict()
        self.plan: list[Step] = []
        self.feature_names: list[str] = []
        self.input_columns: list[str] = []
        self.center = np.zeros(0)
        self.scale = np.ones(0)
        self.report: dict[str, Any] = {}

    # -- fitting ---------------------------------------------------------------------

    def fit(
        self,
        df: pd.DataFrame,
        options: PrepareOptions | None = None,
        *,
        exclude: Iterable[str] = (),
    ) -> Preparer:
        """Learn columns, encodings, medians and scales from ``df``.

        Raises
        ------
        DataError
            When no usable feature column is left, naming why each was dropped.
        """
        options = options or PrepareOptions()
        self.options = options.to_dict()
        excluded = [str(c) for c in exclude]
        dropped: dict[str, str] = {}
        encoded: dict[str, str] = {}
        imputed: dict[str, float] = {}
        plan: list[Step] = []
        for name in df.columns:
            column = str(name)
            if column in excluded:
                continue
            planned = self._plan_column(column, df[name], options)
            if planned[0] is None:
                dropped[column] = planned[1]
                continue
            step = planned[0]
            if step["kind"] in ("onehot", "frequency"):
                encoded[column] = "one-hot" if step["kind"] == "onehot" else "frequency"
            if step.get("median") is not None and step.pop("had_missing", False):
                imputed[column] = step["median"]
            step.pop("had_missing", None)
            plan.append(step)
        self.plan = plan
        self.input_columns = [step["column"] for step in plan]
        self.feature_names = [f for step in plan for f in step["features"]]
        self.center = np.zeros(len(self.feature_names))
        self.scale = np.ones(len(self.feature_names))
        matrix = self._encode(df) if plan else np.empty((len(df), 0))
        if options.drop_constant and plan:
            matrix = self._drop_constant_features(matrix, dropped, encoded, imputed)
        if not self.feature_names:
            reasons = "; ".join(f"{c}: {r}" for c, r in dropped.items()) or "the table is empty"
            raise DataError(f"no usable feature columns ({reasons})")
        self._fit_scaling(matrix, options.scaling)
        self.report = {
            "used": list(self.input_columns),
            "features": list(self.feature_names),
            "dropped": dropped,
            "encoded": encoded,
            "imputed": imputed,
            "scaling": options.scaling,
            "excluded": [c for c in excluded if c in map(str, df.columns)],
        }
        return self

    def _plan_column(self, column: str, series: pd.Series, options: PrepareOptions) -> Planned:
        if _is_datetime(series):
            return None, "date/time column: not a feature (exclude it, or derive features)"
        if series.isna().all():
            return None, "empty (every value is missing)"
        if _is_bool(series):
            return self._numeric_step(column, series.astype("float64"), options, "bool")
        if _is_numeric(series):
            return self._numeric_step(column, series, options, "numeric")
        if not options.encode_categoricals:
            return None, "text column (categorical encoding is off)"
        values = series.dropna().astype(str)
        counts = values.value_counts()
        categories = sorted(counts.index.tolist())
        if len(categories) <= options.max_onehot:
            step = {
                "column": column,
                "kind": "onehot",
                "categories": categories,
                "features": [f"{column}={c}" for c in categories],
            }
        else:
            step = {
                "column": column,
                "kind": "frequency",
                "categories": categories,
                # share of training rows holding each category; unseen values get 0
                "frequencies": [float(counts[c]) / len(series) for c in categories],
                "features": [column],
            }
        return step, None

    def _numeric_step(
        self, column: str, series: pd.Series, options: PrepareOptions, kind: str
    ) -> Planned:
        values: np.ndarray = pd.to_numeric(series, errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        finite = np.isfinite(values)
        if not finite.any():
            return None, "no finite numbers"
        missing = not finite.all()
        if missing and not options.impute:
            raise DataError(
                f"column '{column}' has {int((~finite).sum())} missing or infinite values; "
                "turn on imputation or clean the data",
                column=column,
            )
        median = float(np.median(values[finite]))
        step = {"column": column, "kind": kind, "features": [column], "median": median}
        step["had_missing"] = missing
        return step, None

    def _drop_constant_features(
        self,
        matrix: np.ndarray,
        dropped: dict[str, str],
        encoded: dict[str, str],
        imputed: dict[str, float],
    ) -> np.ndarray:
        constant = np.ptp(matrix, axis=0) == 0 if len(matrix) else np.ones(matrix.shape[1], bool)
        if not constant.any():
            return matrix
        keep_names = {n for n, c in zip(self.feature_names, constant, strict=True) if not c}
        plan = []
        for step in self.plan:
            kept = [f for f in step["features"] if f in keep_names]
            if not kept:
                dropped[step["column"]] = "constant (a single value)"
                encoded.pop(step["column"], None)
                imputed.pop(step["column"], None)
                continue
            step["features"] = kept
            plan.append(step)
        self.plan = plan
        self.input_columns = [step["column"] for step in plan]
        self.feature_names = [f for step in plan for f in step["features"]]
        return np.ascontiguousarray(matrix[:, ~constant])

    def _fit_scaling(self, matrix: np.ndarray, scaling: str) -> None:
        if scaling == "standard":
            center = matrix.mean(axis=0)
            scale = matrix.std(axis=0)
        elif scaling == "robust":
            center = np.median(matrix, axis=0)
            q75, q25 = np.percentile(matrix, [75, 25], axis=0)
            scale = q75 - q25
            # a column that is mostly one value has IQR 0: fall back to its spread
            scale = np.where(scale > 0, scale, matrix.std(axis=0))
        else:
            center = np.zeros(matrix.shape[1])
            scale = np.ones(matrix.shape[1])
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = np.where(np.asarray(scale) > 0, scale, 1.0).astype(np.float64)

    # -- applying --------------------------------------------------------------------

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Prepared features of ``df`` as a C-ordered float64 array.

        Raises
        ------
        DataError
            When a column used in training is missing or holds non-numbers, or
            when missing values remain and imputation is off.
        """
        if not self.plan:
            raise DataError("the preparation is not fitted")
        return self.scale_encoded(self._encode(df))

    def scale_encoded(self, matrix: np.ndarray) -> np.ndarray:
        """The scaling step of :meth:`transform`, applied to an already encoded matrix.

        Online scoring builds the encoded matrix of plain numeric records itself (see
        :mod:`pynomaly.fastscore`) and finishes it here, so both paths scale alike.
        """
        if self.options.get("scaling", "none") != "none":
            matrix = (matrix - self.center) / self.scale
        return np.ascontiguousarray(matrix, dtype=np.float64)

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        columns = {str(c): c for c in df.columns}
        blocks = []
        for step in self.plan:
            name = step["column"]
            if name not in columns:
                raise DataError(f"column '{name}' used in training is missing", column=name)
            blocks.append(self._encode_column(step, df[columns[name]]))
        return np.ascontiguousarray(np.column_stack(blocks), dtype=np.float64)

    def _encode_column(self, step: Step, series: pd.Series) -> np.ndarray:
        name = step["column"]
        if step["kind"] in ("numeric", "bool"):
            if step["kind"] == "bool" and _is_bool(series):
                series = series.astype("float64")
            values: np.ndarray = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            bad = np.isnan(values) & series.notna().to_numpy()
            if bad.any():
                example = series[bad].iloc[0]
                raise DataError(
                    f"column '{name}' holds non-numeric values such as {example!r}", column=name
                )
            finite = np.isfinite(values)
            if not finite.all():
                if not self.options.get("impute", True):
                    raise DataError(
                        f"column '{name}' has {int((~finite).sum())} missing or infinite "
                        "values; turn on imputation or clean the data",
                        column=name,
                    )
                values = np.where(finite, values, step["median"])
            return values
        codes = self._category_codes(series, step["categories"])
        if step["kind"] == "onehot":
            # missing and unseen values (code -1) get all zeros
            onehot: np.ndarray = codes[:, None] == np.arange(len(step["categories"]))
            return onehot.astype(np.float64)
        frequencies = np.append(np.asarray(step["frequencies"], dtype=np.float64), 0.0)
        encoded: np.ndarray = frequencies[codes]  # code -1 picks the trailing 0.0
        return encoded

    @staticmethod
    def _category_codes(series: pd.Series, categories: list[str]) -> np.ndarray:
        present = series.notna().to_numpy()
        codes = np.full(len(series), -1, dtype=np.int64)
        if present.any():
            values = series[present].astype(str)
            # get_indexer gives -1 for values not seen in training
            codes[present] = pd.Index(categories).get_indexer(values)
        return codes

    # -- persistence -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Plain-data state for saving (see :mod:`pynomaly.persist`)."""
        return {
            "options": dict(self.options),
            "plan": [dict(step) for step in self.plan],
            "feature_names": list(self.feature_names),
            "input_columns": list(self.input_columns),
            "center": np.asarray(self.center, dtype=np.float64),
            "scale": np.asarray(self.scale, dtype=np.float64),
            "report": self.report,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preparer:
        preparer = cls()
        preparer.options = dict(state["options"])
        preparer.plan = [dict(step) for step in state["plan"]]
        preparer.feature_names = list(state["feature_names"])
        preparer.input_columns = list(state["input_columns"])
        preparer.center = np.asarray(state["center"], dtype=np.float64)
        preparer.scale = np.asarray(state["scale"], dtype=np.float64)
        preparer.report = state["report"]
        return preparer
