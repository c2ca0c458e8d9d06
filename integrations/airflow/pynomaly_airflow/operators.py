"""Start a Pynomaly detection run and wait for it to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from pynomaly.client import ApiError, RunFailed

from ._values import as_id, run_result
from .hooks import PynomalyHook


class PynomalyRunOperator(BaseOperator):
    """Start a run on a dataset (its latest version) or on one dataset version, with a saved
    detector configuration or ``detector="auto"``, and wait until it ends.

    The task fails when the server refuses the run, when the run ends ``failed`` or
    ``cancelled`` (with the run's error) or when ``run_timeout`` seconds pass. It returns, as
    its XCom ``return_value``, ``{"run_id", "status", "anomalies", "rows", "threshold",
    "trained_model_id", "dataset_version_id"}``; downstream tasks read e.g.
    ``detect.output["anomalies"]``. Killing the task cancels the run on the server.

    :param dataset_id: the dataset whose latest version is scored (or ``dataset_version_id``)
    :param dataset_version_id: one version of a dataset (e.g. from
        :class:`~pynomaly_airflow.sensors.PynomalyDatasetVersionSensor`'s ``version_id``)
    :param detector_config_id: a saved detector configuration (or ``detector="auto"``)
    :param detector: ``"auto"``: the server chooses the detectors
    :param label_column: a column of known labels, for ROC AUC and average precision
    :param train_labels: a column of partial labels (1 / 0 / empty) that ``auto`` learns from
    :param max_fit_rows: fit on a sample of at most this many rows
    :param accept_cost: start even when the server estimates the run as expensive
    :param poll_interval: seconds between two looks at the run
    :param run_timeout: seconds to wait for the run at most (``None``: no limit)
    :param pynomaly_conn_id: the Airflow connection (type ``pynomaly``)
    """

    template_fields: Sequence[str] = (
        "dataset_id",
        "dataset_version_id",
        "detector_config_id",
        "detector",
        "label_column",
        "train_labels",
    )
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        dataset_id: int | str | None = None,
        dataset_version_id: int | str | None = None,
        detector_config_id: int | str | None = None,
        detector: str | None = None,
        label_column: str | None = None,
        train_labels: str | None = None,
        max_fit_rows: int | None = None,
        accept_cost: bool = False,
        poll_interval: float = 10.0,
        run_timeout: float | None = None,
        pynomaly_conn_id: str = PynomalyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_id = dataset_id
        self.dataset_version_id = dataset_version_id
        self.detector_config_id = detector_config_id
        self.detector = detector
        self.label_column = label_column
        self.train_labels = train_labels
        self.max_fit_rows = max_fit_rows
        self.accept_cost = accept_cost
        self.poll_interval = poll_interval
        self.run_timeout = run_timeout
        self.pynomaly_conn_id = pynomaly_conn_id
        self.run_id: int | None = None
        self._hook: PynomalyHook | None = None

    @property
    def hook(self) -> PynomalyHook:
        if self._hook is None:
            self._hook = PynomalyHook(self.pynomaly_conn_id)
        return self._hook

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            ids = {
                "dataset_id": as_id(self.dataset_id, "dataset_id"),
                "dataset_version_id": as_id(self.dataset_version_id, "dataset_version_id"),
                "detector_config_id": as_id(self.detector_config_id, "detector_config_id"),
            }
        except ValueError as exc:
            raise AirflowException(str(exc)) from None
        client = self.hook.get_conn()
        try:
            run = client.runs.start(
                **ids,
                detector=self.detector or None,
                label_column=self.label_column or None,
                train_labels=self.train_labels or None,
                max_fit_rows=self.max_fit_rows,
                accept_cost=self.accept_cost,
            )
        except ValueError as exc:  # the SDK's: e.g. both or neither of dataset / version
            raise AirflowException(str(exc)) from None
        except ApiError as exc:
            raise AirflowException(f"Pynomaly refused the run: {exc}") from None
        self.run_id = run.id
        self.log.info("Started Pynomaly run %s (%s)", run.id, run.status)
        try:
            run.wait(poll=self.poll_interval, timeout=self.run_timeout, progress=False)
        except RunFailed as exc:
            raise AirflowException(f"Pynomaly {exc}") from None
        except TimeoutError:
            raise AirflowException(
                f"Pynomaly run {run.id} is still {run.status} after {self.run_timeout:g} s "
                "(it goes on on the server)"
            ) from None
        except ApiError as exc:
            raise AirflowException(f"Pynomaly run {run.id}: {exc}") from None
        result = run_result(run)
        self.log.info(
            "Pynomaly run %s succeeded: %s anomalies in %s rows",
            run.id,
            result["anomalies"],
            result["rows"],
        )
        return result

    def on_kill(self) -> None:
        if self.run_id is not None:
            try:
                self.hook.get_conn().runs.cancel(self.run_id)
                self.log.info("Cancelled Pynomaly run %s", self.run_id)
            except ApiError as exc:
                self.log.warning("Could not cancel Pynomaly run %s: %s", self.run_id, exc)
