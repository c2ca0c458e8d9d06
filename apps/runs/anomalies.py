"""The anomalies table of the results page: one page of flagged rows, sorted, with why they stand out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.urls import reverse

from pynomaly import results as R

from . import explanations, report, selectors
from .models import Run
from .selectors import dataset_columns, dataset_file, row_ids, scores, severity

WHY_N = 3  # features named per table row
PER_PAGE = 25
MAX_TABLE_COLUMNS = 12


@dataclass
class TablePage:
    rows: list[dict]
    columns: list[str]
    more_columns: int
    sort: str
    direction: str
    page: int
    pages: int
    total: int
    per_page: int
    why_kind: str
    sortable: list[str] = field(default_factory=list)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)


def anomalies_table(
    run: Run,
    threshold: float | None = None,
    *,
    sort: str = "score",
    direction: str = "desc",
    page: int = 1,
    per_page: int = PER_PAGE,
    keep: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TablePage:
    """One page of the flagged rows, sorted, with their values and why they stand out.

    ``keep``: given the flagged rows' ids, which of them to list (the verdict filter).
    """
    all_columns = dataset_columns(run)
    columns = all_columns[:MAX_TABLE_COLUMNS]
    sortable = [R.SCORE, R.SEVERITY, R.ROW_ID, *all_columns]
    sort = sort if sort in sortable else R.SCORE
    direction = "asc" if direction == "asc" else "desc"
    flagged = np.flatnonzero(selectors.flags(run, threshold))
    if keep is not None:
        flagged = flagged[keep(row_ids(run)[flagged])]
    total = len(flagged)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    ordered = flagged[_sort_order(run, flagged, sort, direction, need=page * per_page)]
    pos = ordered[(page - 1) * per_page : page * per_page]
    ids = row_ids(run)[pos]
    values = selectors.values_at(dataset_file(run), ids, columns)
    why, why_kind = _why(run, pos, ids)
    sc, sev = scores(run)[pos], severity(run)[pos]
    rows = [
        {
            "row_id": int(ids[i]),
            "score": float(sc[i]),
            "severity": _finite(sev[i]),
            "values": [_short(values[c][i]) for c in columns],
            "why": why[i],
            "url": row_url(run, int(ids[i])),
        }
        for i in range(len(pos))
    ]
    return TablePage(
        rows,
        columns,
        len(all_columns) - len(columns),
        sort,
        direction,
        page,
        pages,
        total,
        per_page,
        why_kind,
        sortable,
    )


def row_url(run: Run, row_id: int) -> str:
    """The path of one row's page."""
    kwargs = {"tenant_slug": run.tenant.slug, "run_id": run.pk, "row_id": row_id}
    return reverse("runs:row", kwargs=kwargs)


def row_detail(run: Run, row_id: int, *, figure: bool = True) -> dict | None:
    """Everything a row's page shows: values, score, whether flagged, and why; None if no such row."""
    ids = row_ids(run)
    if 0 <= row_id < len(ids) and ids[row_id] == row_id:
        position = row_id
    else:
        hits = np.flatnonzero(ids == row_id)
        if not len(hits):
            return None
        position = int(hits[0])
    pos = np.array([position])
    columns = dataset_columns(run)
    values = selectors.values_at(dataset_file(run), ids[pos], columns)
    attribution = explanations.row(run, row_id)
    why, why_kind = _why(run, pos, ids[pos])
    info = explanations.info(run)
    return {
        "row_id": int(row_id),
        "score": _finite(scores(run)[position]),
        "severity": _finite(severity(run)[position]),
        "flagged": bool(selectors.flags(run)[position]),
        "values": [(c, values[c][0]) for c in columns],
        "attribution": attribution,
        "waterfall": report.waterfall_figure(run, attribution) if attribution and figure else None,
        "why": why[0],
        "why_kind": why_kind,
        "explanation": info,
    }


def _short(v):
    """Floats at 6 significant digits for the table; the downloads keep full precision."""
    return float(f"{v:.6g}") if isinstance(v, float) and np.isfinite(v) else v


def _finite(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _sort_order(
    run: Run, positions: np.ndarray, sort: str, direction: str, need: int
) -> np.ndarray:
    """Stable sort order of ``positions`` by the column ``sort``; missing values last.

    Only the first ``need`` entries must be right: for numbers we sort just the rows that
    can reach them (ties included, so every page agrees with a full stable sort).
    """
    if sort == R.SCORE:
        key = scores(run)[positions]
    elif sort == R.SEVERITY:
        key = severity(run)[positions]
    elif sort == R.ROW_ID:
        key = row_ids(run)[positions]
    else:
        key = selectors.read_column(dataset_file(run), sort)[row_ids(run)[positions]]
    if key.dtype.kind in "fiu":
        k = key.astype("float64")
        k = np.where(np.isnan(k), np.inf, -k if direction == "desc" else k)
        if 0 < need < len(k) // 4:
            cut = np.partition(k, need - 1)[need - 1]
            candidates = np.flatnonzero(k <= cut)
            return candidates[np.argsort(k[candidates], kind="stable")]
        return np.argsort(k, kind="stable")
    try:
        arr = pa.array(key, from_pandas=True)
    except (pa.ArrowException, TypeError):
        arr = pa.array([None if v is None else str(v) for v in key])
    order = pc.array_sort_indices(
        arr, order="ascending" if direction == "asc" else "descending", null_placement="at_end"
    )
    return order.to_numpy()


def _why(run: Run, pos: np.ndarray, ids: np.ndarray) -> tuple[list[list[dict]], str]:
    """Per row, the features that pushed it up: the model's attributions where the run
    explained the row, else stored contributions or |z-score| (each entry says which)."""
    if len(pos) == 0:
        return [], ""
    attributed = explanations.top_for(run, ids, WHY_N)
    missing = [i for i, r in enumerate(ids) if int(r) not in attributed]
    fallback, fallback_kind = (
        _fallback_why(run, pos[missing], ids[missing]) if missing else ([], "")
    )
    why: list[list[dict]] = [[] for _ in pos]
    for i, r in enumerate(ids):
        if int(r) in attributed:
            why[i] = [{**w, "kind": "attribution"} for w in attributed[int(r)]]
    for k, i in enumerate(missing):
        why[i] = [{**w, "kind": fallback_kind} for w in fallback[k]]
    if attributed:
        method = explanations.info(run).get("method_label") or "attributions"
        kind = f"attributions: {method}"
        if missing and fallback_kind:
            kind += f"; {fallback_kind} for rows not explained"
        return why, kind
    return why, fallback_kind


def _fallback_why(run: Run, pos: np.ndarray, ids: np.ndarray) -> tuple[list[list[dict]], str]:
    """Contributions when stored (ECOD, COPOD), else |z-score| of the values."""
    if selectors.contribution_columns(run):
        names, matrix = selectors.contributions_at(run, pos)
        return R.top_features(matrix, names, WHY_N, absolute=False), "contribution"
    names = selectors.feature_columns(run)
    if not names:
        return [[] for _ in pos], ""
    matrix = selectors.zscores_at(run, ids, names)
    return R.top_features(matrix, names, WHY_N, absolute=True), "z-score"
