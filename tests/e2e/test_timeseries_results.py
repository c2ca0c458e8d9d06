"""In a real Chromium: a time-series run's results page draws the series with its anomalous
intervals shaded and a range slider, the picker switches series, the swimlane shows every
series."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def series_run(settings, tmp_path, alice, tenant_a):
    """Window features on the demo sensor fleet, executed in this process before the server
    starts."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    import pandas as pd

    from apps.runs.models import Run
    from apps.runs.tasks import execute_run
    from pynomaly import demo_timeseries
    from tests.web.runs.factories import make_config, make_run, make_version

    df = demo_timeseries.sensor_fleet()
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    version = make_version(tenant_a, df, time_column="timestamp")
    config = make_config(
        tenant_a, alice, detectors=(("windowfeatures", {}),), threshold=("contamination", 0.03)
    )
    run = make_run(
        tenant_a,
        alice,
        version,
        config,
        analysis=Run.Analysis.TIMESERIES,
        analysis_options={
            "time_column": "timestamp",
            "value_columns": ["temperature"],
            "id_column": "sensor",
            "window": 6,
        },
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def _shaded(page) -> int:
    """Interval bands Plotly drew in the series chart (its layout shapes, below the traces)."""
    return page.locator("#chart-series .shapelayer path").count()


def test_intervals_are_shaded_the_picker_switches_series_and_the_swimlane_shows_all(
    series_run, asgi_server, page
):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, "alice@example.com")
    run = series_run

    page.goto(f"{asgi_server.url}/t/{run.tenant.slug}/runs/{run.pk}/results/")
    page.locator("#chart-series svg.main-svg").first.wait_for(timeout=15_000)
    first = page.locator("#series-picker").input_value()
    assert first in {"sensor-a", "sensor-b", "sensor-c"}  # the most severe interval first
    assert _shaded(page) >= 1
    assert page.locator("#chart-series .rangeslider-container").count() == 1  # zoom / brush

    # the swimlane: one lane per sensor, bars for the three with planted anomalies
    page.locator("#chart-swimlane svg.main-svg").first.wait_for(timeout=15_000)
    lanes = page.locator("#chart-swimlane .ytick text").all_text_contents()
    assert sorted(lanes) == ["sensor-a", "sensor-b", "sensor-c", "sensor-d"]
    assert page.locator("#chart-swimlane g.trace.scatter").count() >= 1

    # the picker: the clean sensor has nothing shaded, the noisy one one band
    page.select_option("#series-picker", "sensor-d")
    page.locator("#chart-series .gtitle", has_text="sensor-d").wait_for(timeout=15_000)
    assert _shaded(page) == 0
    assert "0 anomalous intervals" in (page.locator("#chart-series .gtitle").text_content() or "")
    page.select_option("#series-picker", "sensor-c")
    page.locator("#chart-series .gtitle", has_text="sensor-c").wait_for(timeout=15_000)
    assert _shaded(page) == 1
    assert page.url.endswith("series=sensor-c")  # the swap is in the history
    assert page.locator("#intervals-table tbody tr").count() == 4
    assert errors == []
