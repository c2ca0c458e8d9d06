"""``{{ value|readable }}``: scores and thresholds as people read them (pynomaly.results.readable)."""

from __future__ import annotations

from django import template

from pynomaly.results import readable as _readable

register = template.Library()


@register.filter
def readable(value) -> str:
    try:
        return _readable(None if value in (None, "") else float(value))
    except (TypeError, ValueError):
        return str(value)
