from django.urls import reverse

from pynomaly import catalogue


def _url(tenant, name="detectors:catalogue", **kw):
    return reverse(name, kwargs={"tenant_slug": tenant.slug, **kw})


def test_the_catalogue_lists_every_engine_detector(alice_client, tenant_a):
    html = alice_client.get(_url(tenant_a)).content.decode()
    for spec in catalogue.list_detectors():
        assert f'data-detector="{spec.key}"' in html
    assert "Strengths:" in html and "Weaknesses:" in html


def test_it_filters_by_family_and_search_words(alice_client, tenant_a):
    html = alice_client.get(_url(tenant_a), {"family": "proximity"}).content.decode()
    assert 'data-detector="knn"' in html
    assert 'data-detector="iforest"' not in html
    html = alice_client.get(_url(tenant_a), {"q": "isolation"}).content.decode()
    assert 'data-detector="iforest"' in html
    assert 'data-detector="knn"' not in html


def test_htmx_filtering_returns_only_the_list(alice_client, tenant_a):
    response = alice_client.get(
        _url(tenant_a), {"family": "linear"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="detector-list"')
    assert "<html" not in html
    assert 'data-detector="pca"' in html and 'data-detector="knn"' not in html


def test_unavailable_detectors_are_marked_with_reason_and_install_hint(alice_client, tenant_a):
    unavailable = catalogue.list_detectors(available=False)
    assert unavailable, "the test environment should lack at least one optional dependency"
    html = alice_client.get(_url(tenant_a)).content.decode()
    spec = next(s for s in unavailable if s.install_hint)
    block = html.split(f'data-detector="{spec.key}"', 1)[1].split("</li>", 1)[0]
    assert "Unavailable:" in block
    assert spec.install_hint.replace("'", "&#x27;") in block


def test_available_only_hides_the_unavailable(alice_client, tenant_a):
    html = alice_client.get(_url(tenant_a), {"available": "1"}).content.decode()
    for spec in catalogue.list_detectors(available=False):
        assert f'data-detector="{spec.key}"' not in html
    assert 'data-detector="iforest"' in html


def test_the_detail_page_shows_parameters_with_types_defaults_and_ranges(alice_client, tenant_a):
    html = alice_client.get(_url(tenant_a, "detectors:detail", key="knn")).content.decode()
    assert "n_neighbors" in html and "[1, ∞]" in html
    assert "largest, mean, median" in html


def test_an_unknown_detector_is_404(alice_client, tenant_a):
    assert alice_client.get(_url(tenant_a, "detectors:detail", key="nope")).status_code == 404


def test_the_catalogue_marks_the_detectors_that_export_to_onnx(alice_client, tenant_a):
    from pynomaly.onnx_export import EXPORTABLE

    html = alice_client.get(_url(tenant_a)).content.decode()
    cards = html.split('data-detector="')[1:]
    marked = {card.split('"', 1)[0] for card in cards if 'class="onnx-exportable"' in card}
    assert marked == set(EXPORTABLE) == {"iforest", "pca", "autoencoder", "deepsvdd"}
