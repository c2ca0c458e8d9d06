"""Apache Airflow provider for Pynomaly: :class:`~pynomaly_airflow.hooks.PynomalyHook` (an
Airflow connection → a :class:`pynomaly.client.Client`), :class:`~pynomaly_airflow.operators.
PynomalyRunOperator` (start a detection run and wait for it) and two sensors
(:mod:`pynomaly_airflow.sensors`: a run finished, a dataset has a new version)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry
    point: the ``pynomaly`` connection type (its form in the UI) and the modules."""
    return {
        "package-name": "pynomaly-airflow",
        "name": "Pynomaly",
        "description": "Run Pynomaly anomaly detection from Airflow and wait on its runs and "
        "dataset versions.",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "pynomaly_airflow.hooks.PynomalyHook",
                "connection-type": "pynomaly",
            }
        ],
        "hooks": [{"integration-name": "Pynomaly", "python-modules": ["pynomaly_airflow.hooks"]}],
        "operators": [
            {"integration-name": "Pynomaly", "python-modules": ["pynomaly_airflow.operators"]}
        ],
        "sensors": [
            {"integration-name": "Pynomaly", "python-modules": ["pynomaly_airflow.sensors"]}
        ],
    }
