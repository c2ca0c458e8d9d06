"""PostgreSQL connections come from a bounded pool sized from the environment; SQLite has none."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_DATABASE = (
    "import json; from django.conf import settings; d = settings.DATABASES['default'];"
    "print(json.dumps({k: d.get(k) for k in ('ENGINE', 'CONN_MAX_AGE', 'OPTIONS')}))"
)


def _database_settings(**env) -> dict:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DB_POOL_")}
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PRINT_DATABASE],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgresql_connections_come_from_a_pool_with_sensible_defaults():
    db = _database_settings(DATABASE_URL="postgres://app@db.example:5432/pynomaly")
    assert db["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 20, "timeout": 10.0}


def test_the_pool_is_sized_from_the_environment():
    db = _database_settings(
        DATABASE_URL="postgres://app@db.example:5432/pynomaly",
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="7",
        DB_POOL_TIMEOUT="2.5",
    )
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 7, "timeout": 2.5}


def test_sqlite_has_no_pool():
    db = _database_settings(DATABASE_URL="sqlite:///var/pool-test.sqlite3", DB_POOL_MAX_SIZE="7")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert "pool" not in db["OPTIONS"]
