"""The detector catalogue: what can run here, with parameters, strengths and costs."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from pynomaly import catalogue
from pynomaly.errors import UnknownDetector

from ..errors import ApiProblem
from ..schemas import DetectorList

router = Router(tags=["detectors"])


def _matches(spec, needle: str) -> bool:
    texts = (spec.key, spec.short_name, spec.name, spec.description, spec.family, *spec.strengths)
    return any(needle in text.lower() for text in texts)


@router.get("", response=DetectorList, summary="Catalogue entries, benchmark-ranked first")
def list_detectors(
    request: HttpRequest,
    family: str | None = Query(None, max_length=100),
    available: bool | None = None,
    q: str | None = Query(None, max_length=200),
):
    specs = catalogue.list_detectors(family=family or None, available=available)
    needle = (q or "").strip().lower()
    if needle:
        specs = [s for s in specs if _matches(s, needle)]
    return {"items": [s.to_dict() for s in specs]}


@router.get("/{key}", response=dict, summary="One catalogue entry")
def get_detector(request: HttpRequest, key: str):
    try:
        return catalogue.get_detector(key).to_dict()
    except UnknownDetector:
        raise ApiProblem(404, f"No detector {key[:100]!r} in the catalogue.") from None
