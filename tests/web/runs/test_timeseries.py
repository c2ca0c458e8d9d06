"""Time-series runs from the browser: the run form's options and rules, the worker's results,
and the results page (shaded intervals, series picker, swimlane, timestamp-first table)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly import demo_timeseries

from .factories import blobs, make_config, make_run, make_version
from .test_results_fixtures import figure_in

pytestmark = pytest.mark.usefixtures("media")

OPTIONS = {
    "time_column": "timestamp",
    "value_columns": ["temperature"],
    "id_column": "sensor",
    "window": 6,
}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


@pytest.fixture
def fleet(tenant_a, alice):
    df = demo_timeseries.sensor_fleet()
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return make_version(tenant_a, df, time_column="timestamp", user=alice)


@pytest.fixture
def windows(tenant_a, alice):
    return make_config(
        tenant_a,
        alice,
        name="windows",
        detectors=(("windowfeatures", {}),),
        threshold=("contamination", 0.03),
    )


def _start_url(tenant):
    return reverse("runs:start", kwargs={"tenant_slug": tenant.slug})


def _post(client, tenant, version, config, **extra):
    data = {"dataset_version": version.pk, "detector": config.pk, **extra}
    return client.post(_start_url(tenant), data)


def _finished(tenant, user, version, config, options=OPTIONS, **fields) -> Run:
    run = make_run(
        tenant,
        user,
        version,
        config,
        analysis=Run.Analysis.TIMESERIES,
        analysis_options=options,
        **fields,
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def _figure(client, html: str, chart_id: str) -> dict:
    return figure_in(client, html, chart_id)


# ---------------------------------------------------------------- the run form
def test_the_form_offers_time_series_options_only_for_a_dataset_with_a_time_column(
    alice_client, tenant_a, alice, fleet, windows
):
    html = alice_client.get(_start_url(tenant_a), {"dataset_version": fleet.pk}).content.decode()
    assert 'id="time-series-options"' in html and "Analyse as time series" in html
    assert '<option value="timestamp"' in html and '<option value="sensor"' in html

    table = make_version(tenant_a, blobs(50), user=alice)
    html = alice_client.get(_start_url(tenant_a), {"dataset_version": table.pk}).content.decode()
    assert 'id="time-series-options"' not in html


def test_a_time_series_run_starts_with_its_options_resolved_and_audited(
    alice_client, tenant_a, fleet, windows
):
    response = _post(
        alice_client,
        tenant_a,
        fleet,
        windows,
        analysis="on",
        time_column="timestamp",
        id_column="sensor",
        window="6",
        label_column="anomaly",
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get(tenant=tenant_a)
    assert run.analysis == Run.Analysis.TIMESERIES
    # value columns left empty: every numeric column but the label's
    assert run.analysis_options == {
        "time_column": "timestamp",
        "value_columns": ["temperature"],
        "id_column": "sensor",
        "window": 6,
    }
    event = AuditEvent.objects.get(action="run.started", target_id=str(run.pk))
    assert event.details["analysis"] == "timeseries"


def test_a_tabular_detector_cannot_analyse_time_series(alice_client, tenant_a, alice, fleet):
    forest = make_config(tenant_a, alice)
    response = _post(alice_client, tenant_a, fleet, forest, analysis="on", time_column="timestamp")

    assert response.status_code == 400
    assert "needs one detector of the “time series” family" in response.content.decode()
    assert not Run.objects.filter(tenant=tenant_a).exists()


def test_a_time_series_detector_needs_the_time_series_analysis(
    alice_client, tenant_a, fleet, windows
):
    response = _post(alice_client, tenant_a, fleet, windows)

    assert response.status_code == 400
    assert "is a time-series detector: tick “Analyse as time series”" in response.content.decode()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"time_column": "sensor"}, "Select a valid choice"),
        ({"time_column": "timestamp", "value_columns": ["sensor"]}, "Select a valid choice"),
        ({"time_column": "timestamp", "window": "1"}, "greater than or equal to 2"),
        ({"time_column": "timestamp", "window": "501"}, "WindowFeatures&#x27;s window must be"),
    ],
)
def test_bad_time_series_options_are_form_errors(
    alice_client, tenant_a, fleet, windows, extra, message
):
    response = _post(alice_client, tenant_a, fleet, windows, analysis="on", **extra)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Run.objects.filter(tenant=tenant_a).exists()


def test_a_window_longer_than_a_series_fails_the_run_with_a_clear_error(
    alice_client, tenant_a, alice, fleet
):
    bridge = make_config(tenant_a, alice, name="tsod", detectors=(("timeseriesod", {}),))
    response = _post(
        alice_client, tenant_a, fleet, bridge, analysis="on", time_column="timestamp",
        id_column="sensor", window="700",
    )  # fmt: skip
    assert response.status_code == 302  # the series' lengths are only known on the data
    run = Run.objects.get(tenant=tenant_a)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "not shorter than the series (600 points)" in run.error and "sensor-a" in run.error


# ---------------------------------------------------------------- the worker's results
def test_the_worker_writes_points_intervals_and_metrics(tenant_a, alice, fleet, windows):
    run = _finished(tenant_a, alice, fleet, windows, label_column="anomaly")

    table = pd.read_parquet(run.results.path)
    assert {"series", "time", "interval", "value:temperature"} <= set(table.columns)
    ts = run.summary["timeseries"]
    assert ts["intervals_total"] == 4
    assert {i["series"] for i in ts["intervals"]} == {"sensor-a", "sensor-b", "sensor-c"}
    assert run.metrics["roc_auc"] > 0.95
    assert run.threshold == pytest.approx(run.summary["threshold"])


# ---------------------------------------------------------------- the results page
def test_the_results_page_shades_intervals_with_a_series_picker_and_a_swimlane(
    alice_client, tenant_a, alice, fleet, windows
):
    run = _finished(tenant_a, alice, fleet, windows)

    html = alice_client.get(run.url("results")).content.decode()

    assert 'id="series-picker"' in html
    for sensor in demo_timeseries.SENSORS:
        assert f'<option value="{sensor}"' in html
    series = _figure(alice_client, html, "chart-series")
    assert series["layout"]["xaxis"]["rangeslider"]["visible"] is True
    # the default series is the one with the most severe interval; its intervals are shaded
    assert len(series["layout"]["shapes"]) >= 1
    assert all(s["type"] == "rect" for s in series["layout"]["shapes"])
    lanes = _figure(alice_client, html, "chart-swimlane")
    assert lanes["layout"]["yaxis"]["categoryarray"][-1] in {"sensor-a", "sensor-b", "sensor-c"}
    assert set(lanes["layout"]["yaxis"]["categoryarray"]) == set(demo_timeseries.SENSORS)
    bars = [y for y in lanes["data"][0]["y"] if y] + lanes["data"][1]["y"]
    assert set(bars) == {"sensor-a", "sensor-b", "sensor-c"}  # sensor-d has none
    # intervals table and flagged points, timestamp first
    assert html.count('<tr data-series="') == 4
    table = html.split('id="anomalies-table"', 1)[1]
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', table)
    assert headers[:2] == ["Time", "Series"]


def test_the_picker_swaps_in_the_chosen_series(alice_client, tenant_a, alice, fleet, windows):
    run = _finished(tenant_a, alice, fleet, windows)

    response = alice_client.get(
        run.url("results", series="sensor-d"),
        headers={"HX-Request": "true", "HX-Target": "ts-series-panel"},
    )
    html = response.content.decode()

    assert html.lstrip().startswith('<section id="ts-series-panel"') and "<html" not in html
    figure = _figure(alice_client, html, "chart-series")
    assert figure["layout"]["shapes"] == []  # the clean sensor has no interval
    assert "Sensor-d — 0 anomalous intervals" in figure["layout"]["title"]["text"].capitalize()
    full = alice_client.get(run.url("results", series="sensor-c")).content.decode()
    assert len(_figure(alice_client, full, "chart-series")["layout"]["shapes"]) == 1


def test_a_single_series_has_no_picker_nor_swimlane(tenant_a, alice, alice_client, windows):
    df = demo_timeseries.sensor_fleet()
    one = df[df["sensor"] == "sensor-b"][["timestamp", "temperature"]].reset_index(drop=True)
    one["timestamp"] = pd.to_datetime(one["timestamp"])
    version = make_version(tenant_a, one, time_column="timestamp", user=alice)
    run = _finished(tenant_a, alice, version, windows, options={"time_column": "timestamp"})

    html = alice_client.get(run.url("results")).content.decode()

    assert 'id="series-picker"' not in html and 'id="chart-swimlane"' not in html
    assert len(_figure(alice_client, html, "chart-series")["layout"]["shapes"]) >= 1


def test_the_tabular_results_page_is_unchanged_for_a_table_run(alice_client, tenant_a, alice):
    version = make_version(tenant_a, blobs(200), user=alice)
    run = make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    execute_run(run.pk)
    run.refresh_from_db()

    html = alice_client.get(run.url("results")).content.decode()

    assert 'id="threshold-form"' in html and 'id="series-picker"' not in html


def test_a_stranger_cannot_see_a_time_series_result(
    charlie_client, tenant_a, alice, fleet, windows
):
    run = _finished(tenant_a, alice, fleet, windows)
    assert charlie_client.get(run.url("results")).status_code == 404


# ---------------------------------------------------------------- the cost guard
def test_the_cost_guard_refuses_sand_on_a_series_over_its_limit(alice_client, tenant_a, alice):
    df = demo_timeseries.sensor_fleet().head(600)[["timestamp", "temperature"]]
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    big = make_version(tenant_a, df, time_column="timestamp", rows=60_000, user=alice)
    sand = make_config(tenant_a, alice, name="sand", detectors=(("sand", {}),))

    response = _post(
        alice_client, tenant_a, big, sand, analysis="on", time_column="timestamp", accept_cost="on"
    )

    assert response.status_code == 400
    assert "SAND refuses series over 50,000 points (the longest has 60,000)" in (
        response.content.decode()
    )
    assert not Run.objects.filter(tenant=tenant_a).exists()


def test_the_cost_guard_asks_before_a_long_kshape_run_and_starts_it_when_accepted(
    alice_client, tenant_a, alice
):
    df = demo_timeseries.sensor_fleet().head(600)[["timestamp", "temperature"]]
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    long = make_version(tenant_a, df, time_column="timestamp", rows=10_000, user=alice)
    kshape = make_config(tenant_a, alice, name="kshape", detectors=(("kshape", {}),))
    fields = {"analysis": "on", "time_column": "timestamp"}

    preview = alice_client.get(
        _start_url(tenant_a), {"dataset_version": long.pk, "detector": kshape.pk, **fields}
    ).content.decode()
    refused = _post(alice_client, tenant_a, long, kshape, **fields)
    accepted = _post(alice_client, tenant_a, long, kshape, accept_cost="on", **fields)

    assert "KShape on 1 series of ~10,000 points may take" in preview
    assert refused.status_code == 400 and "This run looks expensive" in refused.content.decode()
    assert accepted.status_code == 302
    assert Run.objects.get(tenant=tenant_a).analysis == Run.Analysis.TIMESERIES


@pytest.mark.django_db
def test_a_torch_time_series_run_records_its_last_epoch_beside_the_bar(tenant_a, alice):
    df = demo_timeseries.sensor_fleet().groupby("sensor").head(120)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    version = make_version(tenant_a, df, time_column="timestamp", user=alice)
    lstm = make_config(
        tenant_a,
        alice,
        name="lstm",
        detectors=(("lstmad", {"epochs": 2, "hidden_size": 8}),),
    )
    run = _finished(tenant_a, alice, version, lstm, options={**OPTIONS, "window": 12})
    # 4 sensors x 2 epochs, one bar over all of them
    assert run.progress_detail["epoch"] == run.progress_detail["epochs"] == 8
    assert run.progress_detail["eta_seconds"] == 0
