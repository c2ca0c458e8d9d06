"""The example DAG parses in Airflow's own DagBag, and the provider registers with Airflow."""

from __future__ import annotations

from conftest import DOCS, EXAMPLE_DAGS


def test_the_example_dag_parses_with_no_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert list(bag.dags) == ["pynomaly_example"]
    dag = bag.dags["pynomaly_example"]  # (bag.get_dag would read Airflow's database)
    assert set(dag.task_ids) == {"wait_for_new_version", "detect", "run_succeeded", "check"}
    detect = dag.get_task("detect")
    assert type(detect).__name__ == "PynomalyRunOperator"
    assert detect.upstream_task_ids == {"wait_for_new_version"}
    assert dag.get_task("check").upstream_task_ids == {"detect", "run_succeeded"}
    assert type(dag.get_task("wait_for_new_version")).__name__ == "PynomalyDatasetVersionSensor"


def test_the_provider_is_found_through_its_entry_point():
    from importlib.metadata import entry_points

    (point,) = [e for e in entry_points(group="apache_airflow_provider") if "pynomaly" in e.value]
    info = point.load()()
    assert info["package-name"] == "pynomaly-airflow"
    assert info["connection-types"] == [
        {"hook-class-name": "pynomaly_airflow.hooks.PynomalyHook", "connection-type": "pynomaly"}
    ]

    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    assert "pynomaly-airflow" in manager.providers
    hook = manager.hooks["pynomaly"]
    assert hook is not None and hook.hook_class_name == "pynomaly_airflow.hooks.PynomalyHook"


def test_the_dag_the_docs_show_parses_too(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    text = DOCS.read_text()
    section = text[text.index("### The example DAG") :]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "from_docs.py").write_text(block)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    dag = bag.dags["pynomaly_example"]
    assert set(dag.task_ids) == {"wait_for_new_version", "detect", "run_succeeded", "check"}
