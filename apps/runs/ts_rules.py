"""Start rules of a time-series run (``analysis == timeseries``), used by apps.runs.rules.

Errors are ``(field, message)`` pairs named as the run form's fields: ``analysis``,
``detector``, ``time_column``, ``value_columns``, ``id_column``, ``window``.
"""

from __future__ import annotations

from apps.datasets.models import DatasetVersion
from pynomaly.cost import CostEstimate, estimate_series
from pynomaly.errors import ParamError, UnknownDetector

_NUMERIC = ("int", "uint", "float", "Int", "UInt", "Float")


def numeric_columns(version: DatasetVersion) -> list[str]:
    return [c["name"] for c in version.schema if str(c.get("dtype", "")).startswith(_NUMERIC)]


def datetime_columns(version: DatasetVersion) -> list[str]:
    """Columns a time series can be ordered by: datetimes (and the detected time column)."""
    found = [c["name"] for c in version.schema if "datetime" in str(c.get("dtype", ""))]
    if version.time_column and version.time_column not in found:
        found.insert(0, version.time_column)
    return found


def _detector_key(pipeline: dict) -> tuple[str | None, dict]:
    items = pipeline.get("detectors") or []
    if len(items) != 1:
        return None, {}
    item = items[0]
    return (item["key"], item.get("params") or {}) if isinstance(item, dict) else item


def check(
    version: DatasetVersion,
    pipeline: dict,
    raw_options: dict | None,
    *,
    exclude: tuple[str, ...] = (),
) -> tuple[dict, list[tuple[str, str]]]:
    """The resolved options (value columns filled in, never from ``exclude``: the label
    column) and the errors, if any."""
    from pynomaly import catalogue, ts_detectors
    from pynomaly.timeseries import SeriesOptions

    errors: list[tuple[str, str]] = []
    key, _params = _detector_key(pipeline)
    try:
        spec = catalogue.get_detector(key) if key else None
    except UnknownDetector:
        spec = None
    if spec is None or spec.family != ts_detectors.FAMILY:
        errors.append(
            (
                "detector",
                "A time-series analysis needs one detector of the “time series” family "
                "(SpectralResidual, MatrixProfile, TimeSeriesOD, WindowFeatures, LSTMAD, …).",
            )
        )
    try:
        options = SeriesOptions.from_dict(raw_options)
    except ParamError as exc:
        return {}, [*errors, (exc.field, exc.message.capitalize() + ".")]
    window = ts_detectors.window_param(spec.key) if spec is not None and not errors else None
    if options.window is not None and window and spec is not None:
        try:
            spec.param(window).coerce(options.window)
        except ParamError as exc:
            errors.append(("window", f"{spec.short_name}'s window {exc.message}."))
    if options.time_column not in version.column_names:
        return {}, [*errors, ("time_column", f"The dataset has no column {options.time_column!r}.")]
    if options.time_column not in datetime_columns(version) + numeric_columns(version):
        errors.append(("time_column", f"{options.time_column!r} holds neither times nor numbers."))
    try:
        numeric = [c for c in numeric_columns(version) if c not in exclude]
        resolved = options.check(version.column_names, numeric)
    except ParamError as exc:
        return {}, [*errors, (exc.field, exc.message.capitalize() + ".")]
    return resolved.to_dict(), errors


def series_count(version: DatasetVersion, options: dict) -> int:
    """Series in the run: the id column's distinct values (from the profile), else 1."""
    id_column = options.get("id_column")
    if not id_column:
        return 1
    columns = (version.profile or {}).get("columns") or []
    info = next((c for c in columns if isinstance(c, dict) and c.get("name") == id_column), {})
    return max(int(info.get("distinct") or 1), 1)


def cost(version: DatasetVersion, pipeline: dict, options: dict) -> CostEstimate:
    """The cost guard's estimate of the run (series counted from the profile when known)."""
    from pynomaly import catalogue

    key, params = _detector_key(pipeline)
    spec = catalogue.get_detector(key or "spectralresidual")
    series = series_count(version, options)
    full = spec.validate_params(params)
    if options.get("window"):
        from pynomaly.ts_detectors import window_param

        name = window_param(spec.key)
        if name:
            full[name] = int(options["window"])
    return estimate_series(
        key=spec.key,
        rows=version.rows,
        series=max(series, 1),
        channels=max(len(options.get("value_columns") or ()), 1),
        params=full,
    )
