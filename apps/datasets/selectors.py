"""Read helpers for dataset pages and the API: tenant-scoped queries and Parquet paging."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from apps.common.storage import open_copy

from .models import Dataset, DatasetVersion, Upload

PREVIEW_PAGE_SIZE = 50


def datasets_for_list(tenant) -> QuerySet[Dataset]:
    """The tenant's datasets, each annotated with its latest version's number, rows and columns."""
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    return Dataset.objects.for_tenant(tenant).annotate(
        latest_number=Subquery(latest.values("number")[:1]),
        latest_rows=Subquery(latest.values("rows")[:1]),
        latest_columns=Subquery(latest.values("columns")[:1]),
    )


def latest_upload(dataset: Dataset) -> Upload | None:
    return dataset.uploads.select_related("version").order_by("-created_at", "-id").first()


def dataset_delete_blocker(dataset: Dataset) -> str | None:
    """Why the dataset cannot be deleted (a run uses one of its versions), or None."""
    from apps.runs.models import Run

    runs = Run.objects.filter(dataset_version__dataset=dataset).order_by("-id")
    run = runs.active().first() or runs.first()
    if run is None:
        monitor = dataset.monitors.order_by("name").first()
        if monitor is not None:
            return f"{dataset.name} cannot be deleted: monitor “{monitor.name}” watches it."
        return None
    if run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        return (
            f"{dataset.name} cannot be deleted: it is used by run #{run.pk}, which is still active."
        )
    # Finished runs keep their results and must stay reproducible, so they protect it too.
    return f"{dataset.name} cannot be deleted: it is used by run #{run.pk}."


@dataclass
class PreviewPage:
    columns: list[str]
    rows: list[list[Any]]
    number: int
    num_pages: int
    total_rows: int
    first_row: int  # 1-based, for "rows 51–100 of 1,234"
    last_row: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


def preview_page(
    version: DatasetVersion, page: int, page_size: int = PREVIEW_PAGE_SIZE
) -> PreviewPage:
    """One page of a version's Parquet, reading only the row groups that hold it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # a local copy on remote storage: paging through a preview fetches the file once
    with open_copy(version.parquet.name, version.parquet.storage, pa.memory_map) as fh:
        pf = pq.ParquetFile(fh)
        total = pf.metadata.num_rows
        num_pages = max(1, math.ceil(total / page_size))
        number = min(max(1, page), num_pages)
        start = (number - 1) * page_size
        stop = min(start + page_size, total)
        rows = _read_rows(pf, start, stop)
        columns = pf.schema_arrow.names
    return PreviewPage(
        columns=columns,
        rows=rows,
        number=number,
        num_pages=num_pages,
        total_rows=total,
        first_row=start + 1 if total else 0,
        last_row=stop,
    )


def _read_rows(pf, start: int, stop: int) -> list[list[Any]]:
    import pyarrow as pa

    groups, offset, group_start = [], 0, None
    for i in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        if offset + n > start and offset < stop:
            groups.append(i)
            group_start = offset if group_start is None else group_start
        offset += n
    if not groups:
        return []
    batches, pos = [], group_start
    for batch in pf.iter_batches(batch_size=max(stop - start, 1024), row_groups=groups):
        end = pos + batch.num_rows
        if end > start:
            batches.append(batch.slice(max(0, start - pos), stop - max(pos, start)))
        pos = end
        if pos >= stop:
            break
    table = pa.Table.from_batches(batches) if batches else None
    if table is None:
        return []
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [[_cell(col[r]) for col in columns] for r in range(table.num_rows)]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def profile_table(version: DatasetVersion) -> dict[str, Any]:
    """The stored profile shaped for the page: formatted numbers and histogram bar heights."""
    profile = version.profile or {}
    flagged: dict[str, list[str]] = {}
    for w in profile.get("warnings", []):
        flagged.setdefault(w["column"], []).append(w["kind"])
    columns = []
    for col in profile.get("columns", []):
        hist = col.get("histogram") or {}
        counts = hist.get("counts") or []
        peak = max(counts) if counts else 0
        columns.append(
            {
                **col,
                "missing_pct": f"{col.get('missing_share', 0):.1%}",
                "stats": {k: _fmt(col.get(k)) for k in ("min", "max", "mean", "std") if k in col},
                "bars": [round(100 * c / peak) if peak else 0 for c in counts],
                "hist_range": (_fmt(hist["edges"][0]), _fmt(hist["edges"][-1]))
                if hist.get("edges")
                else None,
                "flags": flagged.get(col["name"], []),
            }
        )
    return {
        "columns": columns,
        "warnings": profile.get("warnings", []),
        "loader_warnings": profile.get("loader_warnings", []),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)
