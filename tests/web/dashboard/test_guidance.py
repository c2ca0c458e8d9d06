"""Guidance where people are: the dataset page's next step, prompts on empty lists, and the one
help snippet explaining each term with a link to the docs section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.urls import reverse

from apps.dashboard.templatetags.guidance import GLOSSARY
from tests.web.runs.factories import blobs, make_version

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_dataset_page_offers_to_run_a_detector_with_the_dataset_preselected(
    alice_client, vera_client, tenant_a, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(100))
    page = reverse("datasets:detail", args=[tenant_a.slug, version.dataset.pk])
    html = alice_client.get(page).content.decode()
    link = re.search(r'id="run-detector-link" href="([^"]+)"', html).group(1)
    assert link == reverse("runs:start", args=[tenant_a.slug]) + f"?dataset_version={version.pk}"
    form = alice_client.get(link).content.decode()
    assert re.search(rf'<option value="{version.pk}" selected>', form)
    assert (
        'id="run-detector-link"' not in vera_client.get(page).content.decode()
    )  # viewers can't run


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("runs:list", "Start a run"),
        ("datasets:list", "Guided first run"),
        ("alerts:list", "Go to the monitors"),
        ("monitors:list", "New monitor"),
    ],
)
def test_empty_lists_say_what_to_do_next_to_those_who_can(
    name, prompt, bob_client, vera_client, tenant_a
):
    url = reverse(name, args=[tenant_a.slug])
    assert prompt in bob_client.get(url).content.decode()
    if name != "alerts:list":
        assert prompt not in vera_client.get(url).content.decode()


@pytest.mark.parametrize("term", sorted(GLOSSARY))
def test_each_help_term_explains_itself_and_links_to_a_docs_section_that_exists(term):
    html = Template('{% include "components/_help.html" with term=t show=True %}').render(
        Context({"t": term})
    )
    label, text, doc = GLOSSARY[term]
    assert f'title="{label}: ' in html and f'data-help-text="{term}"' in html
    href = re.search(r'href="([^"]+)"', html).group(1)
    path, anchor = doc.split("#")
    assert href == f"/docs/{path}#{anchor}"
    headings = (DOCS / (path.rstrip("/") + ".md")).read_text()
    slugs = {
        re.sub(r"[^a-z0-9]+", "-", h.lower()).strip("-")
        for h in re.findall(r"^#+ (.+)$", headings, re.M)
    }
    assert anchor in slugs


def test_the_help_snippet_appears_where_the_words_do(alice_client, tenant_a):
    html = alice_client.get(
        reverse("detectors:config_create", args=[tenant_a.slug])
    ).content.decode()
    assert 'data-help="threshold"' in html and 'data-help="contamination"' in html
