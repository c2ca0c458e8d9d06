"""Airflow without a database or a scheduler: a throwaway AIRFLOW_HOME, no example DAGs, and
the Pynomaly connection from the environment (``AIRFLOW_CONN_PYNOMALY_DEFAULT``, JSON).

The live tests need the server the main suite starts (tests/integration/
test_orchestration_live.py): it passes the URL, a write token and the ids it prepared in
``PYNOMALY_TEST_*`` variables. Without them those tests skip, saying so."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HOME / "dags")

EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "integrations" / "orchestration.md"


class Live:
    """What the main suite prepared on its live server."""

    def __init__(self) -> None:
        self.url = os.environ["PYNOMALY_TEST_URL"]
        self.token = os.environ["PYNOMALY_TEST_TOKEN"]
        self.dataset_id = int(os.environ["PYNOMALY_TEST_DATASET_ID"])
        self.config_id = int(os.environ["PYNOMALY_TEST_CONFIG_ID"])
        self.bad_dataset_id = int(os.environ["PYNOMALY_TEST_BAD_DATASET_ID"])
        self.upload_csv = Path(os.environ["PYNOMALY_TEST_UPLOAD_CSV"])


@pytest.fixture
def live(monkeypatch) -> Live:
    if "PYNOMALY_TEST_URL" not in os.environ:
        pytest.skip(
            "no live server: run through tests/integration/test_orchestration_live.py "
            "(make test-integrations), which starts one and sets PYNOMALY_TEST_*"
        )
    server = Live()
    conn = {"conn_type": "pynomaly", "host": server.url, "password": server.token}
    monkeypatch.setenv("AIRFLOW_CONN_PYNOMALY_DEFAULT", json.dumps(conn))
    return server
