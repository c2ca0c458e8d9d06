"""The demo workspace's time series: a generated sensor fleet (pynomaly.demo_timeseries),
two time-series detector configurations and one time-series run (queued for the worker,
or run here). Idempotent."""

from __future__ import annotations

from apps.detectors.services import pipeline_build

from .models import Run
from .services import run_start

SENSORS = "Sensor fleet (4 sensors, 10-minute readings)"
WINDOWS = "Window features + Isolation Forest (time series)"
SPECTRAL = "Spectral Residual (time series)"
OPTIONS = {
    "time_column": "timestamp",
    "value_columns": ["temperature"],
    "id_column": "sensor",
    "window": 6,
}


def seed_timeseries_demo(*, tenant, user, stdout, run_now: bool = False) -> Run | None:
    from pynomaly import demo_timeseries

    from .demo import _dataset, _detector, demo_run_started

    fleet = _dataset(
        tenant, user, SENSORS, demo_timeseries.sensor_fleet(), "sensor_fleet.csv", stdout
    )
    windows = _detector(
        tenant,
        user,
        WINDOWS,
        pipeline_build(
            detectors=[("windowfeatures", {})], threshold_kind="contamination", threshold_value=0.03
        ),
        "Each reading becomes its last values, their mean, spread and change; Isolation "
        "Forest scores them. Analyse a dataset as time series to use it.",
    )
    _detector(
        tenant,
        user,
        SPECTRAL,
        pipeline_build(
            detectors=[("spectralresidual", {})],
            threshold_kind="contamination",
            threshold_value=0.02,
        ),
        "FFT saliency: very fast, best on spikes in periodic series.",
    )
    if Run.objects.for_tenant(tenant).filter(analysis=Run.Analysis.TIMESERIES).exists():
        return None
    version, detector = fleet.latest_version, windows.current
    assert version is not None and detector is not None  # both were just made or found
    run = run_start(
        tenant=tenant,
        user=user,
        dataset_version=version,
        detector_version=detector,
        label_column="anomaly",
        analysis=Run.Analysis.TIMESERIES,
        analysis_options=OPTIONS,
    )
    demo_run_started(run, run_now=run_now, label=f"{SENSORS} (time series)", stdout=stdout)
    return run
