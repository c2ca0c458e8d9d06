"""Factories for run tests: a ready dataset version written to Parquet, a detector config."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings


def blobs(
    rows: int = 400, *, anomalies: int = 20, seed: int = 0, label: bool = True
) -> pd.DataFrame:
    """Gaussian rows with a few far-away ones (labelled 1 in column ``is_anomaly``)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    X[:anomalies] += 8
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    if label:
        df["is_anomaly"] = (np.arange(rows) < anomalies).astype(int)
    return df


def make_version(
    tenant, df: pd.DataFrame, *, time_column: str = "", rows: int | None = None, user=None
):
    """A DatasetVersion of a READY dataset whose Parquet holds ``df`` (``rows`` may claim more)."""
    from apps.datasets.models import Dataset, DatasetVersion
    from pynomaly.data import write_parquet

    name = f"datasets/parquet/{uuid.uuid4().hex}.parquet"
    full = Path(settings.MEDIA_ROOT) / name
    full.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(df, full)
    dataset = Dataset.objects.create(
        tenant=tenant,
        name=f"data-{uuid.uuid4().hex[:8]}",
        status=Dataset.Status.READY,
        created_by=user,
    )
    return DatasetVersion.objects.create(
        tenant=tenant,
        dataset=dataset,
        number=1,
        sha256=uuid.uuid4().hex,
        original=name,
        original_name="data.parquet",
        format="parquet",
        size=full.stat().st_size,
        parquet=name,
        rows=rows if rows is not None else len(df),
        columns=df.shape[1],
        schema=[{"name": str(c), "dtype": str(t)} for c, t in df.dtypes.items()],
        time_column=time_column,
        created_by=user,
    )


def make_config(
    tenant,
    user,
    *,
    name: str = "forest",
    detectors=(("iforest", {}),),
    threshold=("contamination", 0.05),
    prepare: dict | None = None,
):
    from apps.detectors.services import detector_config_create, pipeline_build
    from pynomaly.catalogue import get_detector

    pipeline = pipeline_build(
        detectors=[(key, get_detector(key).validate_params(params)) for key, params in detectors],
        prepare=prepare,
        threshold_kind=threshold[0],
        threshold_value=threshold[1],
    )
    return detector_config_create(tenant=tenant, user=user, name=name, pipeline=pipeline)


def make_run(tenant, user, version, config, **fields):
    from apps.runs.models import Run

    return Run.objects.create(
        tenant=tenant,
        dataset_version=version,
        detector_version=config.current,
        created_by=user,
        **fields,
    )
