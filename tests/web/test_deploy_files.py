"""The deployment files run what the Procfile runs, and the Kubernetes manifests are valid.

Offline: the manifests against the Kubernetes JSON schemas bundled in kubernetes-validate (strict:
an unknown field is an error), the KEDA ScaledObject against deploy/kubernetes/schemas/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _bash_command(command: list[str]) -> str:
    """``["bash", "-c", "exec LINE"]`` → LINE (how supervise, compose and the pods run a line)."""
    assert command[:2] == ["bash", "-c"], command
    return command[2].removeprefix("exec ")


def _manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def _by_component(kind: str) -> dict[str, dict]:
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in _manifests()
        if d["kind"] == kind
    }


# ---------------------------------------------------------------- Procfile
def test_the_worker_line_autoscales_when_worker_autoscale_is_set():
    import subprocess

    line = _procfile()["worker"]

    def expanded(env: dict) -> list[str]:
        out = subprocess.run(
            ["bash", "-c", f"printf '%s\\n' {line}"], env=env, capture_output=True, text=True
        )
        return out.stdout.split()

    assert "--autoscale=4,1" in expanded({"WORKER_AUTOSCALE": "4,1"})
    assert not any(a.startswith("--concurrency") for a in expanded({"WORKER_AUTOSCALE": "4,1"}))
    assert "--concurrency=3" in expanded({"WORKER_CONCURRENCY": "3"})
    assert "--concurrency=2" in expanded({"WORKER_AUTOSCALE": ""})


# ---------------------------------------------------------------- Docker
def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _instruction(lines: list[str], name: str) -> list[str]:
    return [line[len(name) :].strip() for line in lines if line.split()[0] == name]


def test_dockerfile_runs_the_web_line_as_a_non_root_user_with_a_healthcheck():
    lines = _dockerfile()
    assert _instruction(lines, "FROM") == ["python:3.11-slim"]
    users = _instruction(lines, "USER")
    assert users and users[-1] not in ("root", "0")
    # USER comes before CMD, so the server never runs as root
    assert lines.index(f"USER {users[-1]}") < next(
        i for i, line in enumerate(lines) if line.startswith("CMD")
    )
    assert " ".join(json.loads(_instruction(lines, "CMD")[-1])) == _procfile()["web"]
    (health,) = _instruction(lines, "HEALTHCHECK")
    assert "/healthz" in health and "CMD" in health
    runs = " ".join(_instruction(lines, "RUN"))
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert "manage.py collectstatic --noinput" in runs


def test_compose_services_run_the_procfile_lines():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    procfile = _procfile()
    wanted = {"web": "web", "worker": "worker", "beat": "beat", "streams": "streams"}
    for service, process in wanted.items():
        command = _bash_command(services[service]["command"]).replace("$$", "$")
        assert command == procfile[process], service
    assert _bash_command(services["migrate"]["command"]) == procfile["release"]
    assert services["migrate"]["restart"] == "no"
    assert {"postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "streams"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith(
            "redis://"
        )


# ---------------------------------------------------------------- Kubernetes
@pytest.mark.parametrize(
    "doc",
    [d for d in _manifests() if not d["apiVersion"].startswith("keda.sh/")],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_manifest_is_valid_against_the_kubernetes_schema(doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field():
    """The validator really looks at fields (else the test above could not fail)."""
    web = _by_component("Deployment")["web"]
    broken = json.loads(json.dumps(web))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_keda_scaled_object_matches_its_schema_and_scales_the_worker_on_the_celery_queue():
    schema = json.loads((K8S / "schemas" / "keda-scaledobject.schema.json").read_text())
    (scaled,) = [d for d in _manifests() if d["kind"] == "ScaledObject"]
    jsonschema.validate(scaled, schema)
    bad = json.loads(json.dumps(scaled))
    bad["spec"]["minReplicas"] = 1  # the HPA's spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    deployments = _by_component("Deployment")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployments["worker"]["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    from django.conf import settings

    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == settings.CELERY_TASK_DEFAULT_QUEUE


def test_pods_run_the_procfile_lines_with_probes_and_one_beat():
    procfile = _procfile()
    deployments = _by_component("Deployment")
    assert set(deployments) == {"web", "worker", "beat", "streams"}
    for component, d in deployments.items():
        (container,) = d["spec"]["template"]["spec"]["containers"]
        assert _bash_command(container["command"]) == procfile[component], component
        refs = {next(iter(r)): next(iter(r.values()))["name"] for r in container["envFrom"]}
        assert refs == {"configMapRef": "pynomaly-config", "secretRef": "pynomaly-secrets"}
        assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    (job,) = [d for d in _manifests() if d["kind"] == "Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert _bash_command(container["command"]) == procfile["release"]

    web = deployments["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    beat = deployments["beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    (hpa,) = [d for d in _manifests() if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployments["web"]["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_probes_and_config_use_names_the_app_knows():
    """The probes' paths answer in the app; every ConfigMap key is a documented setting."""
    from django.urls import resolve

    resolve("/healthz")
    resolve("/readyz")
    (config,) = [d for d in _manifests() if d["kind"] == "ConfigMap"]
    documented = set(
        re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs/operator/configuration.md").read_text())
    )
    assert set(config["data"]) <= documented, set(config["data"]) - documented
    assert "localhost" in config["data"]["ALLOWED_HOSTS"].split(",")  # the probes' Host


def test_haproxy_config_is_valid_for_haproxy_itself(tmp_path):
    import subprocess

    from bench.loadbalancer import CONFIG, HAPROXY

    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    env = {
        "PYNOMALY_LB_BIND": "127.0.0.1:18080",
        "PYNOMALY_LB_STATS": "127.0.0.1:18404",
        "PYNOMALY_WEB1": "127.0.0.1:18001",
        "PYNOMALY_WEB2": "127.0.0.1:18002",
    }
    ok = subprocess.run([HAPROXY, "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(
        CONFIG.read_text().replace("retry-on all-retryable-errors", "retry-on nonsense")
    )
    bad = subprocess.run(
        [HAPROXY, "-c", "-f", str(broken)], env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0


PRODUCTION_PROBE = r"""
import django
django.setup()
from django.test import Client
c = Client(HTTP_HOST="localhost")
print(c.get("/healthz").status_code, c.get("/accounts/login/").status_code)
"""


def test_in_production_the_probes_answer_over_plain_http_and_pages_redirect_to_https():
    """The Dockerfile's HEALTHCHECK, the pods' probes and HAProxy's check are plain HTTP."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
        "PYNOMALY_ENV": "production",
        "SECRET_KEY": "probe-test",
        "PYNOMALY_SECRETS_KEYS": "Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXNlY3JldCE=",
        "ALLOWED_HOSTS": "localhost",
        "PYNOMALY_STATIC_BUILT": "0",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["200", "301"]
