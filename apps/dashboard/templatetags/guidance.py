"""``{% glossary "score" as g %}``: one short explanation per word the pages use, with its docs page.

Read by ``components/_help.html``, the one help snippet every page includes.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

register = template.Library()

GLOSSARY: dict[str, tuple[str, str, str]] = {
    # term: (label, one-sentence explanation, docs path#anchor)
    "score": (
        "Score",
        "How unusual a row looks to the detector: higher means more anomalous. Scales differ "
        "between detectors.",
        "concepts/runs/#results",
    ),
    "severity": (
        "Severity",
        "0–100: the share of training rows this row out-scores (99 = higher than 99 %), "
        "comparable across detectors.",
        "concepts/runs/#severity",
    ),
    "threshold": (
        "Threshold",
        "The cut-off that turns scores into flags: rows scoring above it are anomalies.",
        "concepts/runs/#thresholds",
    ),
    "contamination": (
        "Contamination",
        "The share of rows you expect to be anomalies (0.02 = 2 %); the threshold flags that many.",
        "concepts/runs/#thresholds",
    ),
    "roc_auc": (
        "ROC-AUC",
        "How well the scores rank true anomalies above normal rows: 0.5 is chance, 1 is perfect.",
        "concepts/runs/#metrics-against-labels",
    ),
    "ap": (
        "Average precision (AP)",
        "Precision averaged over recall; the more telling figure when anomalies are rare.",
        "concepts/runs/#metrics-against-labels",
    ),
    "cost": (
        "Cost estimate",
        "The expected time and memory of a run from the data's size and the detectors; a heavy "
        "run needs your consent or a sample.",
        "concepts/detectors/#cost-estimates",
    ),
    "run": (
        "Run",
        "One detector configuration applied to one dataset version: every row scored and the "
        "unusual ones flagged.",
        "concepts/runs/#runs",
    ),
}


@register.simple_tag
def glossary(term: str) -> dict[str, str]:
    try:
        label, text, doc = GLOSSARY[term]
    except KeyError:
        raise template.TemplateSyntaxError(f"no glossary entry {term!r}") from None
    path, _, anchor = doc.partition("#")
    url = reverse("docs_file", kwargs={"path": path}) + (f"#{anchor}" if anchor else "")
    return {"term": term, "label": label, "text": text, "url": url}
