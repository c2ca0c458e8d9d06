"""How pages travel: compressed when the client asks, a favicon where browsers look, a description."""

import gzip

import pytest


@pytest.mark.django_db
def test_html_is_gzipped_when_the_client_accepts_it(client):
    plain = client.get("/accounts/login/")
    packed = client.get("/accounts/login/", headers={"accept-encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    body = gzip.decompress(packed.content).decode()
    assert "Sign in" in body and len(packed.content) < len(plain.content) / 2


@pytest.mark.django_db
def test_favicon_ico_answers_with_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("icons/favicon-32.png")


@pytest.mark.django_db
def test_pages_carry_a_meta_description(client):
    page = client.get("/accounts/login/").content.decode()
    assert '<meta name="description" content="Pynomaly: self-hosted anomaly detection' in page
