"""How many points a chart needs for the screen that draws it.

A browser asks for a figure with the width of its chart in CSS pixels; drawing more than a
couple of points per pixel adds bytes and draw time but nothing the eye can see. Widths are
rounded up to a few buckets so that the figures built (and cached) for nearby widths are
the same figure.
"""

from __future__ import annotations

WIDTH_STEP = 256  # px: widths are rounded up to a multiple of this
MIN_WIDTH = 256
MAX_WIDTH = 2560  # a 4K screen at 1.5x is still under this
DEFAULT_WIDTH = 1280  # a browser that says nothing (a script, no JavaScript)
POINTS_PER_PIXEL = 2  # min-max decimation keeps two points per bucket: a peak and a dip


def width_bucket(width: int | float | str | None) -> int:
    """``width`` (CSS px, as sent by the client) rounded up to the next bucket, clamped.

    Anything that is not a positive finite number reads as :data:`DEFAULT_WIDTH`.
    """
    try:
        w = float(width) if width not in (None, "") else float(DEFAULT_WIDTH)
    except (TypeError, ValueError):
        w = float(DEFAULT_WIDTH)
    if not w > 0 or w == float("inf"):  # NaN, negative, zero, infinite
        w = float(DEFAULT_WIDTH)
    steps = -(-int(min(w, MAX_WIDTH)) // WIDTH_STEP)  # ceiling division
    return max(MIN_WIDTH, min(MAX_WIDTH, steps * WIDTH_STEP))


def point_budget(width: int | float | str | None, *, ceiling: int) -> int:
    """Background points a chart of ``width`` px draws: two per pixel of its bucket, at most
    ``ceiling`` (the chart's own cap, e.g. 5,000)."""
    return min(int(ceiling), POINTS_PER_PIXEL * width_bucket(width))
