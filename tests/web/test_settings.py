"""Production mode: refuses to start without a secret, passes the deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "PYNOMALY_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", PYNOMALY_ENV="production", ALLOWED_HOSTS="pynomaly.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_passes_the_deployment_checklist_without_warnings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PYNOMALY_ENV="production",
        SECRET_KEY="x7#Kq9!vLm2@Zp4$Rt6^Wn8&Yb1*Hc3(Jd5)Fg0-Se_Ua+Io=Pl;Mk:Nj<Ob>Vh",
        ALLOWED_HOSTS="pynomaly.example.com",
        PYNOMALY_SECRETS_KEYS="bUVyMGNrWWxUbzN1bFA5b1NwdUlXbG5xR3RvY3kxd2s=",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_need_no_configuration():
    result = _manage("check")
    assert result.returncode == 0, result.stderr


def test_celery_accepts_json_only_and_time_limits_stay_under_the_visibility_timeout():
    from django.conf import settings

    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert (
        settings.CELERY_TASK_TIME_LIMIT
        < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    )
