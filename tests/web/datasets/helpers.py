"""Helpers for dataset tests: small files of every format, URLs, synchronous ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from django.urls import reverse

ROWS = 120


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def frame(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "row": np.arange(rows),
            "value": rng.normal(10, 2, rows).round(4),
            "other": rng.uniform(0, 1, rows).round(4),
            "kind": rng.choice(["a", "b", "c"], rows),
        }
    )


def write(fmt: str, directory: Path, df: pd.DataFrame | None = None, stem: str = "sensors") -> Path:
    """Write ``df`` in ``fmt``; returns the path. HDF5 holds the numeric columns only."""
    df = frame() if df is None else df
    ext = {"hdf5": "h5", "jsonl": "jsonl"}.get(fmt, fmt)
    path = directory / f"{stem}.{ext}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == "json":
        df.to_json(path, orient="records")
    elif fmt == "jsonl":
        df.to_json(path, orient="records", lines=True)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "feather":
        df.to_feather(path)
    elif fmt == "xlsx":
        df.to_excel(path, index=False)
    elif fmt == "hdf5":
        import h5py

        numeric = df.select_dtypes("number")
        with h5py.File(path, "w") as fh:
            ds = fh.create_dataset("table", data=numeric.to_numpy(dtype="float64"))
            ds.attrs["columns"] = list(numeric.columns)
    else:  # pragma: no cover
        raise ValueError(fmt)
    return path


def upload_url(tenant) -> str:
    return reverse("datasets:upload", kwargs={"tenant_slug": tenant.slug})


def url(name: str, tenant, **kwargs) -> str:
    return reverse(f"datasets:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


def post_file(client, tenant, path: Path, name: str = "", filename: str | None = None, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(filename or path.name, path.read_bytes())
    return client.post(upload_url(tenant), {"name": name, "file": upload}, **extra)


def ingest_latest(dataset_name: str | None = None):
    """Run the ingest task synchronously for the newest pending upload."""
    from apps.datasets.models import Upload
    from apps.datasets.tasks import ingest

    qs = Upload.objects.filter(status=Upload.Status.PENDING)
    if dataset_name:
        qs = qs.filter(dataset__name=dataset_name)
    upload = qs.order_by("-id").first()
    assert upload is not None, "no pending upload"
    ingest.apply(args=[upload.pk])
    upload.refresh_from_db()
    return upload
