"""The example pipeline compiles (offline) into a KFP v2 pipeline spec naming the component."""

from __future__ import annotations

import yaml
from kfp import compiler


def test_the_example_pipeline_compiles_to_yaml_naming_the_component(tmp_path):
    from pynomaly_kfp.pipeline import pynomaly_pipeline

    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pynomaly_pipeline, package_path=str(path))
    text = path.read_text()
    docs = list(yaml.safe_load_all(text))
    spec = docs[0]
    assert spec["pipelineInfo"]["name"] == "pynomaly-detect"
    assert set(spec["components"]) == {"comp-pynomaly-run", "comp-check-anomalies"}
    run = spec["components"]["comp-pynomaly-run"]
    assert set(run["outputDefinitions"]["parameters"]) == {"run_id", "anomalies", "rows"}
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "server_url", "dataset_id", "detector_config_id", "max_anomalies",
    }  # fmt: skip
    executor = spec["deploymentSpec"]["executors"]["exec-pynomaly-run"]["container"]
    assert executor["image"] == "pynomaly:latest"
    assert "def pynomaly_run(" in "\n".join(executor["command"])
    assert "from pynomaly.client import" in "\n".join(executor["command"])
    # the token comes from the Secret, never from a pipeline parameter
    (platform,) = docs[1:]
    secret = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-pynomaly-run"]
    assert secret["secretAsEnv"][0]["secretName"] == "pynomaly-token"
    assert secret["secretAsEnv"][0]["keyToEnv"] == [
        {"envVar": "PYNOMALY_TOKEN", "secretKey": "token"}
    ]


def test_the_module_compiles_from_the_command_line(tmp_path, capsys):
    from pynomaly_kfp.pipeline import main

    out = tmp_path / "p.yaml"
    main([str(out)])
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert "comp-pynomaly-run" in out.read_text()
