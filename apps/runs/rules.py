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
    keys = pipeline_keys(pipeline)
    skipped = {c for c in (label_column, train_label_column, version.time_column) if c}
    features = version.columns - len(skipped)
    return estimate_pipeline(
        rows=version.rows,
        columns=max(features, 1),
        keys=keys,
        max_fit_rows=max_fit_rows or pipeline.get("max_fit_rows"),
    )


def pipeline_keys(pipeline: dict) -> list[str]:
    return [
        item["key"] if isinstance(item, dict) else item[0] for item in pipeline.get("detectors", [])
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
                "Training labels are used by the Automatic detector only: choose "
                "Automatic, or leave this empty.",
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
) -> CostEstimate:
    """The rules a new run must pass (label columns, sample size, cost guard); ``RunInvalid``."""
    errors: list[tuple[str, str]] = []
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
