"""The demo workspace's database source: a SQLite file whose sensor table grows by itself.

``sensor_readings`` is a view that yields one reading per minute from two days before the
seed until now, so it gains a row every minute with no process writing to it, and an
incremental pull (watermark ``id``) always finds the rows added since the last one. Values
are deterministic (integer hashing, no random()) with a spike every few hundred rows.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from django.conf import settings

from .models import Source
from .services import SourceError, source_create, source_pull

DEMO_SOURCE = "Plant sensors (SQLite demo)"
DEMO_FILE = "demo-plant.sqlite3"

_VIEW = """
CREATE VIEW IF NOT EXISTS sensor_readings AS
WITH RECURSIVE
  meta AS (SELECT started FROM demo_meta LIMIT 1),
  t(n) AS (
    SELECT 1
    UNION ALL
    SELECT n + 1 FROM t, meta WHERE n < (CAST(strftime('%s', 'now') AS INTEGER) - started) / 60
  ),
  h AS (SELECT n, ((n * 2654435761) % 4294967296) / 4294967296.0 AS u,
               ((n * 40503 + 7) % 65536) / 65536.0 AS v FROM t)
SELECT
  n AS id,
  datetime((SELECT started FROM meta) + n * 60, 'unixepoch') AS ts,
  round(21.0 + 2.5 * abs((n % 1440) / 720.0 - 1.0) + (u - 0.5) + CASE WHEN n % 487 = 0 THEN 14 ELSE 0 END, 3) AS temperature,
  round(101.3 + (v - 0.5) * 0.8 - CASE WHEN n % 631 = 0 THEN 6 ELSE 0 END, 3) AS pressure,
  round(0.2 + u * v * 0.3 + CASE WHEN n % 811 = 0 THEN 2.5 ELSE 0 END, 4) AS vibration,
  CASE WHEN n % 3 = 0 THEN 'line-a' WHEN n % 3 = 1 THEN 'line-b' ELSE 'line-c' END AS line
FROM h
"""


def demo_database(directory: Path) -> Path:
    """Create the demo SQLite file (once); its view starts two days before the first call."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DEMO_FILE
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS demo_meta (started INTEGER NOT NULL)")
        if conn.execute("SELECT COUNT(*) FROM demo_meta").fetchone()[0] == 0:
            conn.execute("INSERT INTO demo_meta VALUES (?)", (int(time.time()) - 2 * 24 * 3600,))
        conn.execute(_VIEW)
    return path


def seed_demo_source(*, tenant, user, stdout=None) -> Source:
    """The demo source with its first pull done; left alone if it exists."""
    existing = Source.objects.for_tenant(tenant).filter(name=DEMO_SOURCE).first()
    if existing is not None:
        return existing
    demo_database(Path(settings.PYNOMALY_SOURCE_SQLITE_DIR))
    source = source_create(
        tenant=tenant,
        user=user,
        data={
            "name": DEMO_SOURCE,
            "kind": Source.Kind.SQLITE,
            "database": DEMO_FILE,
            "table": "sensor_readings",
            "watermark_column": "id",
        },
    )
    try:
        version = source_pull(source=source, user=user)
    except SourceError as exc:
        if stdout is not None:
            stdout.write(f"Demo source created; its first pull failed: {exc.message}")
        return source
    if stdout is not None and version is not None:
        stdout.write(
            f"Demo source {DEMO_SOURCE}: {version.rows} rows pulled (it grows by one a minute)."
        )
    return source
