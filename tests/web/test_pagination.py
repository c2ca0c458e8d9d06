"""The one pagination component: links keep their href, htmx only where a target is given."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.template.loader import render_to_string

COMPONENT = "components/_pagination.html"


def middle_page():
    return Paginator(range(30), 10).get_page(2)


def test_it_links_both_ways_keeping_the_filters_and_swaps_the_target():
    html = render_to_string(
        COMPONENT,
        {"page": middle_page(), "pages": 3, "query": "status=failed", "target": "#audit-table"},
    )

    assert 'href="?status=failed&amp;page=1"' in html and 'href="?status=failed&amp;page=3"' in html
    assert 'hx-get="?status=failed&amp;page=3" hx-target="#audit-table"' in html
    assert "Page 2 of 3" in html and ">Previous</a>" in html and ">Next</a>" in html


def test_without_a_target_it_is_plain_links_with_the_given_words():
    html = render_to_string(
        COMPONENT, {"page": middle_page(), "pages": 3, "previous": "Newer", "next": "Older"}
    )

    assert 'href="?page=1"' in html and ">Newer</a>" in html and ">Older</a>" in html
    assert "hx-get" not in html


def test_a_base_path_goes_before_the_query():
    html = render_to_string(
        COMPONENT, {"page": Paginator(range(30), 10).get_page(1), "pages": 3, "base": "/p/"}
    )

    assert 'href="/p/?page=2"' in html and 'rel="prev"' not in html
