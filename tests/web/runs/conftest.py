import pytest


@pytest.fixture
def media(settings, tmp_path):
    """Stored files (datasets, results, models) in a temporary folder; no heartbeat thread noise."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    return tmp_path / "media"
