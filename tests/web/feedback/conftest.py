import pytest

from tests.web.runs.test_results_fixtures import results_env  # noqa: F401  (media + cache, autouse)


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.RUN_HEARTBEAT_SECONDS = 3600
