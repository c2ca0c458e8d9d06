"""Wait for a Pynomaly run to finish, or for a dataset to get a new version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from pynomaly.client import ApiError, NotFound

from ._values import as_id, run_result
from .hooks import PynomalyHook


class PynomalyRunSensor(BaseSensorOperator):
    """Done when the run ``run_id`` has succeeded (its result as XCom, like
    :class:`~pynomaly_airflow.operators.PynomalyRunOperator`'s); fails at once, without retries,
    when it ended ``failed`` or ``cancelled`` or does not exist in the token's workspace."""

    template_fields: Sequence[str] = ("run_id",)
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        run_id: int | str,
        pynomaly_conn_id: str = PynomalyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.pynomaly_conn_id = pynomaly_conn_id

    def poke(self, context: Any) -> PokeReturnValue | bool:
        run_id = as_id(self.run_id, "run_id")
        if run_id is None:
            raise AirflowFailException("run_id is empty")
        try:
            run = PynomalyHook(self.pynomaly_conn_id).get_conn().runs.get(run_id)
        except NotFound as exc:
            raise AirflowFailException(f"Pynomaly run {run_id}: {exc}") from None
        except ApiError as exc:
            raise AirflowException(f"Pynomaly run {run_id}: {exc}") from None
        if run.status == "succeeded":
            return PokeReturnValue(is_done=True, xcom_value=run_result(run))
        if run.is_terminal:
            raise AirflowFailException(
                f"Pynomaly run {run_id} {run.status}: {run.error or 'no reason given'}"
            )
        self.log.info("Pynomaly run %s is %s (%s %%)", run_id, run.status, run.percent or 0)
        return False


class PynomalyDatasetVersionSensor(BaseSensorOperator):
    """Done when dataset ``dataset_id`` has a version numbered above ``after_version`` (0: any
    version). Its XCom is the newest version: ``{"dataset_id", "version", "version_id",
    "rows", "sha256"}`` — hand ``version_id`` to the run operator's ``dataset_version_id`` to
    score exactly that version."""

    template_fields: Sequence[str] = ("dataset_id", "after_version")
    ui_color = "#e0e7ff"

    def __init__(
        self,
        *,
        dataset_id: int | str,
        after_version: int | str = 0,
        pynomaly_conn_id: str = PynomalyHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_id = dataset_id
        self.after_version = after_version
        self.pynomaly_conn_id = pynomaly_conn_id

    def poke(self, context: Any) -> PokeReturnValue | bool:
        dataset_id = as_id(self.dataset_id, "dataset_id")
        if dataset_id is None:
            raise AirflowFailException("dataset_id is empty")
        after = as_id(self.after_version, "after_version") or 0
        try:
            versions = PynomalyHook(self.pynomaly_conn_id).get_conn().datasets.versions(dataset_id)
        except NotFound as exc:
            raise AirflowFailException(f"Pynomaly dataset {dataset_id}: {exc}") from None
        except ApiError as exc:
            raise AirflowException(f"Pynomaly dataset {dataset_id}: {exc}") from None
        newer = [v for v in versions if (v.number or 0) > after]
        if not newer:
            self.log.info("Pynomaly dataset %s has no version after %s yet", dataset_id, after)
            return False
        newest = max(newer, key=lambda v: v.number or 0)
        return PokeReturnValue(
            is_done=True,
            xcom_value={
                "dataset_id": dataset_id,
                "version": newest.number,
                "version_id": newest.id,
                "rows": newest.rows,
                "sha256": newest.sha256,
            },
        )
