"""Dataset test helpers: media in tmp_path, small files of every format, ready-made datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from .helpers import write


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def make_dataset(tmp_path):
    """Create a ready dataset in a tenant from a frame, through the same service the seeder uses."""
    from apps.datasets.services import dataset_create_from_path

    def make(tenant, user, name: str = "sensors", df: pd.DataFrame | None = None, fmt: str = "csv"):
        directory = tmp_path / f"src-{name}"
        directory.mkdir(exist_ok=True)
        path = write(fmt, directory, df)
        upload = dataset_create_from_path(
            tenant=tenant, user=user, path=path, name=name, ingest_now=True
        )
        assert upload.status == "done", upload.error
        return upload.dataset

    return make


@pytest.fixture
def run_for():
    """A Run row using a version of the dataset (status given), created through the ORM."""
    from apps.detectors.models import DetectorConfig, DetectorConfigVersion
    from apps.runs.models import Run

    def make(dataset, status: str = "running"):
        config = DetectorConfig.objects.create(
            tenant=dataset.tenant, name=f"iforest-{dataset.pk}-{status}"
        )
        detector = DetectorConfigVersion.objects.create(
            tenant=dataset.tenant,
            config=config,
            number=1,
            pipeline={"detectors": [["iforest", {}]]},
        )
        return Run.objects.create(
            tenant=dataset.tenant,
            dataset_version=dataset.latest_version,
            detector_version=detector,
            status=status,
        )

    return make
