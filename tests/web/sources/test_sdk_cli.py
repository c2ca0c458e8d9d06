"""The SDK and the CLI against the real ASGI server, reading real PostgreSQL and MariaDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def write_token(alice, tenant_a):
    from apps.api.services import token_create

    return token_create(user=alice, tenant=tenant_a, name="sources sdk", scope="write")[1]


def test_the_sdk_manages_tests_previews_and_pulls_a_source(
    live_media, asgi_server, write_token, pg_db
):
    from pynomaly.client import Client, NotFound, ValidationError

    pg_db.execute(
        "CREATE TABLE sdk_rows (id SERIAL PRIMARY KEY, x DOUBLE PRECISION)",
        "INSERT INTO sdk_rows (x) SELECT g / 10.0 FROM generate_series(1, 30) g",
    )
    with Client(asgi_server.url, write_token) as api:
        source = api.sources.create("sdk", url=pg_db.url(), table="sdk_rows", watermark_column="id")
        assert source.password_set is True and "password" not in source.raw
        assert api.sources.test(source.id).columns == ["id", "x"]
        assert len(api.sources.preview(source.id, rows=3).to_pandas()) == 3
        version = api.sources.pull(source.id)
        assert version is not None and version.rows == 30
        assert api.sources.pull(source.id) is None
        pg_db.execute("INSERT INTO sdk_rows (x) VALUES (99.0)")
        assert api.sources.pull(source.id).rows == 1
        assert api.sources.get(source.id).watermark_value == "31"
        assert [s.name for s in api.sources.list()] == ["sdk"]
        with pytest.raises(ValidationError, match="read-only SELECT"):
            api.sources.update(source.id, table="", query="DROP TABLE sdk_rows")
        api.sources.delete(source.id)
        with pytest.raises(NotFound):
            api.sources.get(source.id)


def _cli(*args, env, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "pynomaly", *map(str, args)],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_cli_adds_tests_previews_pulls_and_deletes_a_source(
    live_media, asgi_server, write_token, maria_db, tmp_path
):
    maria_db.execute(
        "CREATE TABLE cli_rows (id INT AUTO_INCREMENT PRIMARY KEY, amount DOUBLE, shop VARCHAR(8))",
        "INSERT INTO cli_rows (amount, shop) VALUES (1.5, 'a'), (2.5, 'b'), (9.5, 'c')",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(tmp_path / "cli.json")}
    assert _cli("login", asgi_server.url, "--token", write_token, env=env).returncode == 0

    url = f"mysql://{maria_db.user}@127.0.0.1:3306/{maria_db.name}"  # the password comes on stdin
    added = _cli("sources", "add", "shop", "--url", url, "--table", "cli_rows", "--watermark", "id",
                 "--password-stdin", env=env, stdin=maria_db.password + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    source_id = int(added.stdout.split()[1])

    tested = _cli("sources", "test", source_id, env=env)
    assert tested.returncode == 0 and "Connected to MariaDB" in tested.stdout
    preview = _cli("sources", "preview", source_id, env=env)
    assert preview.returncode == 0 and "amount" in preview.stdout and "9.5" in preview.stdout
    pulled = _cli("sources", "pull", source_id, env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "3 rows" in pulled.stdout and "watermark 3" in pulled.stdout
    again = _cli("sources", "pull", source_id, env=env)
    assert "nothing new" in again.stdout
    listed = _cli("sources", "list", env=env)
    assert "shop" in listed.stdout and maria_db.password not in listed.stdout

    refused = _cli(
        "sources", "add", "bad", "--url", url, "--query", "DELETE FROM cli_rows", env=env
    )
    assert refused.returncode == 2 and "read-only SELECT" in refused.stderr
    assert _cli("sources", "delete", source_id, env=env).returncode == 0
    assert _cli("sources", "test", source_id, env=env).returncode == 2
