"""The PWA's server side: manifest, service worker, offline page, no third-party hosts."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from PIL import Image

pytestmark = pytest.mark.django_db


def _png(client, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, url
    body = b"".join(response.streaming_content) if response.streaming else response.content
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG", url
    return image


def test_the_manifest_names_the_app_and_opens_standalone_at_the_root(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "Pynomaly"
    assert manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/")
    assert manifest["id"]


def test_the_manifest_lists_192_and_512_icons_both_plain_and_maskable(client):
    icons = client.get("/manifest.webmanifest").json()["icons"]
    offered = {(icon["sizes"], icon.get("purpose", "any")) for icon in icons}
    for size in ("192x192", "512x512"):
        assert (size, "any") in offered
        assert (size, "maskable") in offered


def test_every_manifest_icon_is_a_png_of_the_size_it_claims(client):
    for icon in client.get("/manifest.webmanifest").json()["icons"]:
        width, height = (int(n) for n in icon["sizes"].split("x"))
        assert _png(client, icon["src"]).size == (width, height), icon["src"]


def test_maskable_icons_have_no_transparent_pixels(client):
    # A launcher crops maskable icons to any shape: the background must bleed to the edges.
    for icon in client.get("/manifest.webmanifest").json()["icons"]:
        if icon.get("purpose") == "maskable":
            image = _png(client, icon["src"]).convert("RGBA")
            assert image.getextrema()[3][0] == 255, icon["src"]


def test_the_apple_touch_icon_linked_from_the_page_exists(client):
    html = client.get("/accounts/login/").content.decode()
    match = re.search(r'<link rel="apple-touch-icon" href="([^"]+)"', html)
    assert match, "no apple-touch-icon link"
    assert _png(client, match.group(1)).size == (180, 180)


def test_the_service_worker_is_served_from_the_root_as_javascript(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"


def test_the_service_worker_precaches_the_offline_page_and_every_shell_asset(client):
    body = client.get("/sw.js").content.decode()
    assert '"/offline/"' in body
    for path in settings.PWA_SHELL_ASSETS:
        url = settings.STATIC_URL + path
        assert f'"{url}"' in body, path
        assert client.get(url).status_code == 200, f"pre-cached {url} does not exist"


def test_the_service_worker_cache_name_changes_when_a_shell_asset_changes(
    client, settings, tmp_path
):
    before = re.search(r'const CACHE = "([^"]+)"', client.get("/sw.js").content.decode()).group(1)
    extra = tmp_path / "static"
    extra.mkdir()
    (extra / "extra.css").write_text("body { color: red }")
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, extra]
    settings.PWA_SHELL_ASSETS = [*settings.PWA_SHELL_ASSETS, "extra.css"]
    after = re.search(r'const CACHE = "([^"]+)"', client.get("/sw.js").content.decode()).group(1)
    assert before != after


def test_the_offline_page_is_served_and_says_so(client):
    response = client.get("/offline/")
    assert response.status_code == 200
    assert "You are offline" in response.content.decode()


def test_the_offline_page_holds_nothing_about_the_signed_in_user(alice_client):
    # The service worker caches it once and shows it to whoever uses the browser later.
    html = alice_client.get("/offline/").content.decode()
    assert "alice" not in html
    assert "Acme" not in html


def _foreign_urls(html: str) -> list[str]:
    urls = re.findall(r'\b(?:src|href|action)\s*=\s*["\']([^"\']+)["\']', html)
    return [u for u in urls if urlsplit(u).scheme in ("http", "https") or u.startswith("//")]


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/offline/"])
def test_public_pages_load_nothing_from_another_host(client, path):
    html = client.get(path).content.decode()
    assert "<script" in html or path == "/offline/"
    assert _foreign_urls(html) == []


def test_the_dashboard_loads_nothing_from_another_host(alice_client, tenant_a):
    html = alice_client.get(f"/t/{tenant_a.slug}/").content.decode()
    assert 'id="main-nav"' in html
    assert _foreign_urls(html) == []


def test_the_page_loads_htmx_2_and_its_websocket_extension_from_our_static_files(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js"' in html
    assert '<script src="/static/django_htmx/ext/hx-ws-2.min.js"' in html
    assert client.get("/static/django_htmx/ext/hx-ws-2.min.js").status_code == 200


def test_the_server_error_page_renders_without_any_context(rf):
    from pynomaly_web.errors import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
