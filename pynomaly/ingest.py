"""The parse of an upload into canonical Parquet, run inside the ingest sandbox.

``dataset_ingest`` calls :func:`convert_upload` through :func:`pynomaly.sandbox.run_limited`,
so this module runs in a child process under OS memory and CPU limits.  It imports no
Django (the child does not set it up) and returns plain JSON.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from pynomaly import data as engine
from pynomaly.profile import profile_frame, value_types

if TYPE_CHECKING:
    import pandas as pd


def convert_upload(
    *, source: str, target: str, format: str, filename: str, limits: dict[str, int]
) -> dict[str, Any]:  # noqa: A002 - the engine's keyword
    """Load ``source``, write it to ``target`` as Parquet; return shape, schema and profile."""
    loaded = engine.load(source, format=format, limits=engine.Limits(**limits), filename=filename)
    time_column, warnings = loaded.time_column, list(loaded.warnings)
    frame = arrow_safe(loaded.frame)
    del loaded  # the frame is the big object: keep one reference only
    profile = profile_frame(frame, time_column=time_column)
    profile["loader_warnings"] = warnings
    engine.write_parquet(frame, target)
    return {
        "rows": int(frame.shape[0]),
        "columns": int(frame.shape[1]),
        "schema": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
        "profile": profile,
        "time_column": time_column or "",
    }


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _as_text(v: Any) -> str | None:
    if _is_missing(v):
        return None
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return str(v)


def arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding several Python types (JSON, Excel) become text, so Parquet can hold them."""
    for col in frame.columns:
        types = value_types(frame[col])
        if len(types) > 1 or (types and types[0] not in ("text", "number", "boolean")):
            frame[col] = frame[col].map(_as_text).astype("object")
    return frame
