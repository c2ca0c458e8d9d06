"""The component. KFP copies the function's source into the container and runs it there, so it
imports what it uses inside its body and its image must hold the Pynomaly SDK (the app's image
``pynomaly:latest`` does; or any image with ``pip install --no-deps <pynomaly checkout>`` +
``requests tqdm``). Set ``PYNOMALY_KFP_IMAGE`` when compiling to choose another image.

No ``from __future__ import annotations`` here: KFP reads the real annotations."""

import os
from typing import NamedTuple

from kfp import dsl

IMAGE = os.environ.get("PYNOMALY_KFP_IMAGE", "pynomaly:latest")


@dsl.component(base_image=IMAGE)
def pynomaly_run(
    server_url: str,
    dataset_id: int,
    detector_config_id: int = 0,
    detector: str = "",
    dataset_version_id: int = 0,
    label_column: str = "",
    train_labels: str = "",
    token: str = "",
    poll_interval: float = 5.0,
    run_timeout: float = 3600.0,
) -> NamedTuple("Outputs", [("run_id", int), ("anomalies", int), ("rows", int)]):
    """Start a Pynomaly run on ``dataset_id``'s latest version (or on ``dataset_version_id``)
    with ``detector_config_id`` (or ``detector="auto"``, which may learn from the partial
    labels of column ``train_labels``), wait for it, and output its id, its
    anomaly count and its row count. The step fails when the server refuses the run, when the
    run ends failed or cancelled, or after ``run_timeout`` seconds.

    The API token comes from ``token`` or, better, from the environment variable
    ``PYNOMALY_TOKEN`` set from a Kubernetes Secret (``kfp.kubernetes.use_secret_as_env``)."""
    import os
    from collections import namedtuple

    from pynomaly.client import ApiError, Client, RunFailed

    api_token = token or os.environ.get("PYNOMALY_TOKEN", "")
    if not api_token:
        raise ValueError("no API token: set PYNOMALY_TOKEN (from a Secret) or pass token")
    with Client(server_url, api_token) as api:
        try:
            run = api.runs.start(
                dataset_id=None if dataset_version_id else dataset_id,
                dataset_version_id=dataset_version_id or None,
                detector_config_id=detector_config_id or None,
                detector=detector or None,
                label_column=label_column or None,
                train_labels=train_labels or None,
            )
        except ApiError as exc:
            raise RuntimeError(f"Pynomaly refused the run: {exc}") from None
        print(f"started Pynomaly run {run.id} ({run.status})", flush=True)
        try:
            run.wait(poll=poll_interval, timeout=run_timeout, progress=False)
        except RunFailed as exc:
            raise RuntimeError(f"Pynomaly {exc}") from None
        except TimeoutError:
            raise RuntimeError(
                f"Pynomaly run {run.id} is still {run.status} after {run_timeout:g} s"
            ) from None
    anomalies = int((run.summary or {}).get("anomalies") or 0)
    rows = int(run.rows_total or 0)
    print(f"Pynomaly run {run.id} succeeded: {anomalies} anomalies in {rows} rows", flush=True)
    outputs = namedtuple("Outputs", ["run_id", "anomalies", "rows"])
    return outputs(int(run.id), anomalies, rows)


@dsl.component(base_image="python:3.11-slim")
def check_anomalies(run_id: int, anomalies: int, max_anomalies: int) -> int:
    """Fail the pipeline when the run flagged more than ``max_anomalies`` rows."""
    if anomalies > max_anomalies:
        raise RuntimeError(
            f"Pynomaly run {run_id}: {anomalies} anomalies exceed the limit of {max_anomalies}"
        )
    print(f"Pynomaly run {run_id}: {anomalies} anomalies, within {max_anomalies}", flush=True)
    return anomalies
