"""An example pipeline: detect anomalies in a dataset's latest version, then check the count.

Compile it (offline) and upload the YAML to Kubeflow Pipelines::

    python -m pynomaly_kfp.pipeline pynomaly_pipeline.yaml

The API token comes from the Kubernetes Secret ``pynomaly-token`` (key ``token``) in the
pipeline's namespace::

    kubectl create secret generic pynomaly-token --from-literal=token=pyn_...
"""

import sys

from kfp import compiler, dsl, kubernetes

from pynomaly_kfp.components import check_anomalies, pynomaly_run

TOKEN_SECRET = "pynomaly-token"


@dsl.pipeline(
    name="pynomaly-detect",
    description="Run a Pynomaly detector configuration on a dataset and check the anomaly count",
)
def pynomaly_pipeline(
    server_url: str,
    dataset_id: int,
    detector_config_id: int,
    max_anomalies: int = 100,
) -> int:
    detect = pynomaly_run(
        server_url=server_url, dataset_id=dataset_id, detector_config_id=detector_config_id
    )
    detect.set_caching_options(False)  # a new run each time, even on the same inputs
    kubernetes.use_secret_as_env(
        detect, secret_name=TOKEN_SECRET, secret_key_to_env={"token": "PYNOMALY_TOKEN"}
    )
    check = check_anomalies(
        run_id=detect.outputs["run_id"],
        anomalies=detect.outputs["anomalies"],
        max_anomalies=max_anomalies,
    )
    return check.output


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "pynomaly_pipeline.yaml"
    compiler.Compiler().compile(pynomaly_pipeline, package_path=path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
