"""The documentation site: built strict from docs/ (a broken link fails), offline (no asset from
another host), and served by the app at /docs/ with the right types, folders' index pages, a
CSP that admits exactly its inline scripts, no way out of the build directory, and a clear page
when it is not built."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MKDOCS, "--config-file", str(config), "--site-dir", str(site)],
        cwd=config.parent,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("docs") / "site"
    done = build(ROOT / "mkdocs.yml", target)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture
def served(settings, site):
    settings.PYNOMALY_DOCS_DIR = site
    return site


def test_every_page_of_the_nav_is_built(site):
    for page in ("getting-started", "concepts/runs", "concepts/streams", "operator/configuration",
                 "operator/scaling", "api", "cli", "benchmarks"):  # fmt: skip
        assert (site / page / "index.html").is_file(), page
    assert (site / "search" / "search_index.json").is_file()  # the offline search's index


def test_the_built_site_loads_nothing_from_another_host(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 15
    asset = re.compile(
        r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=\"(https?:)?//", re.I
    )
    for page in pages:
        html = page.read_text()
        assert not asset.search(html), f"{page} loads an asset from another host"
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html
    for css in site.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", css.read_text()), css


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "concepts" / "runs.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_docs_serves_the_home_page_and_each_folder_s_index(client, served, settings, debug):
    settings.DEBUG = debug
    home = client.get("/docs/")
    assert home.status_code == 200 and home["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Pynomaly</title>" in home.content.decode()
    page = client.get("/docs/getting-started/")
    assert (
        page.status_code == 200 and "From a fresh clone to a first result" in page.content.decode()
    )
    moved = client.get("/docs/concepts")
    assert moved.status_code == 301 and moved["Location"] == "/docs/concepts/"
    assert client.get("/docs/no-such-page/").status_code == 404


@pytest.mark.django_db
def test_docs_assets_have_their_content_types(client, served):
    css = next((served / "assets" / "stylesheets").glob("main.*.min.css")).name
    js = next((served / "assets" / "javascripts").glob("bundle.*.min.js")).name
    expected = {
        f"/docs/assets/stylesheets/{css}": "text/css",
        f"/docs/assets/javascripts/{js}": "text/javascript",
        "/docs/search/search_index.json": "application/json",
        "/docs/sitemap.xml": "application/xml",
    }
    for url, content_type in expected.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].split(";")[0] in (
            content_type,
            content_type.replace("text/", "application/"),
        ), url
        assert response["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in client.get(f"/docs/assets/stylesheets/{css}")["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/docs/../manage.py",
        "/docs/..%2Fmanage.py",
        "/docs/%2e%2e/%2e%2e/pyproject.toml",
        "/docs/assets/../../../manage.py",
        "/docs//etc/passwd",
        "/docs/%00index.html",
    ],
)
def test_docs_never_serves_a_file_outside_the_build(client, served, path):
    (served.parent / "secret.txt").write_text("outside the build")
    response = client.get(path)
    assert response.status_code == 404
    assert b"outside the build" not in response.content and b"[project]" not in response.content
    assert client.get("/docs/../secret.txt").status_code == 404


@pytest.mark.django_db
def test_docs_pages_allow_exactly_their_own_inline_scripts(client, served):
    response = client.get("/docs/concepts/runs/")
    html = response.content
    inline = [
        m.group(2)
        for m in re.finditer(rb"<script([^>]*)>(.*?)</script>", html, re.S)
        if b"src=" not in m.group(1) and b"application/json" not in m.group(1)
    ]
    assert inline, "Material's pages have inline scripts (palette, scope)"
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    # the app's pages keep the strict policy
    login = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "sha256" not in next(d for d in login.split(";") if d.strip().startswith("script-src"))


@pytest.mark.django_db
def test_docs_says_how_to_build_the_site_when_it_is_not_built(client, settings, tmp_path):
    settings.DEBUG = False
    settings.PYNOMALY_DOCS_DIR = tmp_path / "never-built"
    response = client.get("/docs/")
    assert response.status_code == 503
    body = response.content.decode()
    assert "The documentation is not built yet" in body and "make docs" in body
    assert client.get("/docs/getting-started/").status_code == 503


@pytest.mark.django_db
def test_docs_refuses_writes(client, served):
    assert client.post("/docs/").status_code == 405


@pytest.mark.django_db
def test_every_page_links_to_the_docs_in_its_footer(client):
    page = client.get("/accounts/login/").content.decode()
    footer = page[page.index("<footer") :]
    assert 'href="/docs/"' in footer and 'href="/docs/getting-started/"' in footer
