"""The rules a new run must pass before it is queued: one place for the form and the API."""

from __future__ import annotations

from apps.datasets.models import DatasetVersion
from apps.detectors.models import DetectorConfigVersion
from pynomaly.cost import CostEstimate, estimate_pipeline

from .services import RunStateError


class RunInvalid(RunStateError):
    """A run that breaks a start rule; the form and the API only map ``errors`` to fields.

    ``errors`` holds ``(field, message)`` pairs named as the form's fields (``label_column``,
    ``max_fit_rows``, ``accept_cost``); ``estimate`` is the cost guard's pre-flight estimate.
    """

    def __init__(self, errors: list[tuple[str, str]], *, estimate: CostEstimate | None = None):
        super().__init__(errors[0][1])
        self.errors = errors
        self.estimate = estimate


COST_REFUSAL = (
    "This run looks expensive (see the warning): subsample, choose a "
    "faster detector, or tick the box to start it anyway."
)


def cost_for(
    version: DatasetVersion,
    pipeline: dict,
    *,
    max_fit_rows: int | None,
    label_column: str = "",
    train_label_column: str = "",
) -> CostEstimate:
    """The pre-flight estimate of running ``pipeline`` on ``version``."""
    from .graphs import graph_cost, is_graph_pipeline

    if version.is_graph or is_graph_pipeline(pipeline):
        return graph_cost(version, pipeline)
    keys = pipeline_keys(pipeline)
    skipped = {c for c in (label_column, train_label_column, version.time_column) if c}
    features = version.columns - len(skipped)
    return estimate_pipeline(
        rows=version.rows,
        columns=max(features, 1),
        keys=keys,
        max_fit_rows=max_fit_rows or pipeline.get("max_fit_rows"),
        params={
            d["key"]: dict(d.get("params") or {})
            for d in pipeline.get("detectors") or ()
            if isinstance(d, dict) and "key" in d
        },
    )


def pipeline_keys(pipeline: dict) -> list[str]:
    return [
        item["key"] if isinstance(item, dict) else item[0] for item in pipeline.get("detectors", [])
    ]


def _needs_labels_errors(detector_version: DetectorConfigVersion) -> list[tuple[str, str]]:
    """A supervised detector (DevNet) learns from labelled anomalies: no labels, no run."""
    from pynomaly import catalogue
    from pynomaly.errors import UnknownDetector

    names = []
    for key in pipeline_keys(detector_version.pipeline):
        try:
            spec = catalogue.get_detector(key)
        except UnknownDetector:
            continue
        if spec.supervised:
            names.append(spec.short_name)
    if not names:
        return []
    return [
        (
            "train_label_column",
            f"{', '.join(names)} learns from labelled anomalies: choose a training label "
            "column (1 = anomaly, 0 = normal, empty = unknown).",
        )
    ]


def _train_label_errors(
    version: DatasetVersion, detector_version: DetectorConfigVersion, column: str
) -> list[tuple[str, str]]:
    """Training labels need a column of the dataset and a detector that learns from them."""
    from pynomaly import catalogue

    if column not in version.column_names or column == version.time_column:
        return [("train_label_column", f"The dataset has no column {column!r}.")]
    keys = pipeline_keys(detector_version.pipeline)
    if not any(k == "auto" or catalogue.get_detector(k).supervised for k in keys):
        return [
            (
                "train_label_column",
                "Training labels are used by the Automatic detector and DevNet only: "
                "choose one of them, or leave this empty.",
            )
        ]
    return []


def run_start_check(
    *,
    dataset_version: DatasetVersion,
    detector_version: DetectorConfigVersion,
    label_column: str = "",
    max_fit_rows: int | None = None,
    accept_cost: bool = False,
    train_label_column: str = "",
    analysis: str = "table",
    analysis_options: dict | None = None,
) -> CostEstimate:
    """The rules a new run must pass (label columns, sample size, cost guard); ``RunInvalid``.

    A time-series run (``analysis="timeseries"``) has its own rules (apps.runs.ts_rules);
    its ``analysis_options`` are resolved in place (value columns filled in). A graph
    dataset's run is a table run here; run_start marks it as a graph run.
    """
    from .graphs import graph_errors

    if analysis == "timeseries":
        return _timeseries_check(
            dataset_version, detector_version, analysis_options, label_column, accept_cost
        )
    if analysis not in ("table", "graph"):
        raise RunInvalid([("analysis", f"Unknown analysis {analysis!r}.")])
    errors: list[tuple[str, str]] = graph_errors(dataset_version, detector_version)
    errors.extend(_tabular_detector_errors(detector_version))
    if not train_label_column:
        errors.extend(_needs_labels_errors(detector_version))
    if train_label_column:
        errors.extend(_train_label_errors(dataset_version, detector_version, train_label_column))
        if train_label_column == label_column:
            errors.append(
                (
                    "train_label_column",
                    "Use a different column for training than for evaluation: a run "
                    "evaluated on the labels it learned from looks better than it is.",
                )
            )
    if label_column and (
        label_column not in dataset_version.column_names
        or label_column == dataset_version.time_column
    ):
        errors.append(("label_column", f"The dataset has no label column {label_column!r}."))
    if max_fit_rows is not None and max_fit_rows < 2:
        errors.append(("max_fit_rows", "The fit sample needs at least 2 rows."))
    cost = cost_for(
        dataset_version,
        detector_version.pipeline,
        max_fit_rows=max_fit_rows,
        label_column=label_column,
        train_label_column=train_label_column,
    )
    if not errors and cost.heavy and not accept_cost:
        errors.append(("accept_cost", COST_REFUSAL))
    if errors:
        raise RunInvalid(errors, estimate=cost)
    return cost


def _tabular_detector_errors(detector_version: DetectorConfigVersion) -> list[tuple[str, str]]:
    from pynomaly import catalogue, ts_detectors
    from pynomaly.errors import UnknownDetector

    for key in pipeline_keys(detector_version.pipeline):
        try:
            spec = catalogue.get_detector(key)
        except UnknownDetector:
            continue
        if spec.family == ts_detectors.FAMILY:
            return [
                (
                    "detector",
                    f"{spec.short_name} is a time-series detector: tick “Analyse as time "
                    "series” and choose the time column.",
                )
            ]
    return []


def _timeseries_check(
    version: DatasetVersion,
    detector_version: DetectorConfigVersion,
    options: dict | None,
    label_column: str,
    accept_cost: bool,
) -> CostEstimate:
    from pynomaly.cost import series_refusal

    from . import ts_rules

    resolved, errors = ts_rules.check(
        version, detector_version.pipeline, options, exclude=(label_column,)
    )
    if label_column and label_column not in version.column_names:
        errors.append(("label_column", f"The dataset has no label column {label_column!r}."))
    if errors:
        raise RunInvalid(errors)
    cost = ts_rules.cost(version, detector_version.pipeline, resolved)
    key = pipeline_keys(detector_version.pipeline)[0]
    points = version.rows // ts_rules.series_count(version, resolved)
    refusal = series_refusal(key.lower(), points)
    if refusal:
        raise RunInvalid([("detector", refusal[0].upper() + refusal[1:] + ".")], estimate=cost)
    if cost.heavy and not accept_cost:
        raise RunInvalid([("accept_cost", COST_REFUSAL)], estimate=cost)
    if options is not None:
        options.clear()
        options.update(resolved)
    return cost
