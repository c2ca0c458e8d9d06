"""Factories for results tests: a dataset version, a detector and a succeeded run whose
results Parquet is written right here with numpy (no Celery task involved).

Imported by the test_results*.py modules; it holds no tests itself.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone


@pytest.fixture(autouse=True)
def results_env(settings, tmp_path):
    """Media in a temporary folder, an empty results cache."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from apps.runs import selectors

    selectors._cache.clear()
    yield
    selectors._cache.clear()


# ---------------------------------------------------------------- factories
def _media(sub: str) -> tuple[str, Path]:
    name = f"{sub}/{uuid.uuid4().hex}.parquet"
    full = Path(django_settings.MEDIA_ROOT) / name
    full.parent.mkdir(parents=True, exist_ok=True)
    return name, full


def make_version(
    tenant, data: pd.DataFrame | dict, *, time_column: str = "", row_group_size: int | None = None
):
    from apps.datasets.models import Dataset, DatasetVersion

    table = pa.Table.from_pandas(pd.DataFrame(data), preserve_index=False)
    name, full = _media("datasets/parquet")
    pq.write_table(table, full, row_group_size=row_group_size)
    dataset = Dataset.objects.create(
        tenant=tenant, name=f"data-{uuid.uuid4().hex[:8]}", status=Dataset.Status.READY
    )
    return DatasetVersion.objects.create(
        tenant=tenant,
        dataset=dataset,
        number=1,
        sha256=uuid.uuid4().hex,
        original=name,
        original_name="data.csv",
        format="csv",
        size=full.stat().st_size,
        parquet=name,
        rows=table.num_rows,
        columns=table.num_columns,
        schema=[{"name": f.name, "dtype": str(f.type)} for f in table.schema],
        time_column=time_column,
    )


def make_detector(tenant):
    from apps.detectors.models import DetectorConfig, DetectorConfigVersion

    config = DetectorConfig.objects.create(tenant=tenant, name=f"IForest {uuid.uuid4().hex[:6]}")
    return DetectorConfigVersion.objects.create(
        tenant=tenant, config=config, number=1, pipeline={"detectors": [["iforest", {}]]}
    )


def write_results(scores, threshold: float, contributions: dict | None = None, row_ids=None) -> str:
    scores = np.asarray(scores, dtype="float64")
    n = len(scores)
    lo, hi = float(scores.min()), float(scores.max())
    columns = {
        "row_id": pa.array(
            np.arange(n, dtype=np.int64) if row_ids is None else np.asarray(row_ids, np.int64)
        ),
        "score": pa.array(scores),
        "label": pa.array((scores > threshold).astype(np.int8)),
        "severity": pa.array(100 * (scores - lo) / (hi - lo or 1.0)),
    }
    for feature, values in (contributions or {}).items():
        columns[f"contrib:{feature}"] = pa.array(np.asarray(values, dtype="float64"))
    name, full = _media("runs")
    pq.write_table(pa.table(columns), full)
    return name


def make_run(
    tenant,
    version,
    scores,
    *,
    threshold: float,
    status: str = "succeeded",
    contributions=None,
    metrics=None,
    label_column: str = "",
    time_column: str | None = None,
    detector=None,
):
    from apps.runs.models import Run

    scores = np.asarray(scores, dtype="float64")
    flagged = int((scores > threshold).sum())
    now = timezone.now()
    return Run.objects.create(
        tenant=tenant,
        dataset_version=version,
        detector_version=detector or make_detector(tenant),
        status=status,
        label_column=label_column,
        results=write_results(scores, threshold, contributions) if status == "succeeded" else "",
        threshold=threshold if status == "succeeded" else None,
        started_at=now - timezone.timedelta(seconds=12),
        finished_at=now if status == "succeeded" else None,
        summary={
            "rows": len(scores),
            "anomalies": flagged,
            "anomaly_rate": flagged / len(scores),
            "threshold": threshold,
            "feature_names": [],
            "has_contributions": bool(contributions),
            "time_column": time_column,
            "label_column": label_column or None,
        }
        if status == "succeeded"
        else {},
        metrics=metrics or {},
    )


def small_run(tenant, *, n: int = 100, threshold: float = 0.9, seed: int = 1, **kwargs):
    """A 100-row dataset (x, y, z, name) with scores i/n: rows 91..99 score above 0.9."""
    rng = np.random.default_rng(seed)
    data = {
        "x": rng.normal(size=n),
        "y": rng.normal(size=n),
        "z": np.arange(n, dtype="float64"),
        "name": [f"item-{i}" for i in range(n)],
    }
    version = make_version(tenant, data)
    return make_run(tenant, version, np.arange(n) / n, threshold=threshold, **kwargs)


def url(name: str, run, **query) -> str:
    from urllib.parse import urlencode

    u = reverse(f"runs:{name}", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk})
    return f"{u}?{urlencode(query)}" if query else u


def figure_in(client, html: str, chart_id: str) -> dict:
    """The figure a page draws in ``#chart_id``: fetched from its figure URL as app.js does
    (a small figure may still be inlined with json_script)."""
    import html as html_lib
    import json
    import re

    m = re.search(
        rf'<script id="{chart_id}-figure" type="application/json">(.*?)</script>', html, re.S
    )
    if m:
        return json.loads(m.group(1))
    m = re.search(rf'<div id="{chart_id}" data-plotly data-figure-url="([^"]+)"', html)
    assert m, f"no figure for {chart_id}"
    response = client.get(html_lib.unescape(m.group(1)) + "&w=1280")
    assert response.status_code == 200, response.content[:200]
    return json.loads(response.content)
