"""A database source in a real Chromium: alice connects MariaDB by URL, tests it, previews it,
pulls it through a real Celery worker, and finds the rows as a version of the dataset."""

from __future__ import annotations

import time

import pytest

from tests.conftest import login
from tests.web.sources.conftest import maria_db  # noqa: F401 - a real MariaDB database

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


def test_alice_connects_a_database_and_its_rows_become_a_dataset_version(
    live_media,
    asgi_server,
    celery_worker,
    page,
    alice,
    tenant_a,
    maria_db,  # noqa: F811
):
    maria_db.execute(
        "CREATE TABLE e2e_orders (id INT AUTO_INCREMENT PRIMARY KEY, amount DOUBLE, shop VARCHAR(8))",
        "INSERT INTO e2e_orders (amount, shop) VALUES (12.5, 'north'), (7.25, 'south'), (980.0, 'north')",
    )
    login(page, asgi_server, alice.email)
    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/sources/")
    page.click("text=Connect a database")
    page.fill("input[name=name]", "orders")
    page.fill("input[name=url]", maria_db.url())
    page.fill("input[name=table]", "e2e_orders")
    page.fill("input[name=watermark_column]", "id")
    page.click("#source-form button[type=submit]")

    page.wait_for_selector("#password-state")
    assert page.inner_text("#password-state") == "•••• set"
    assert maria_db.password not in page.content()
    page.click("#test-connection")
    assert "Connected to MariaDB" in page.inner_text("#test-result")
    page.click("#preview-rows")
    assert "980.0" in page.inner_text("#preview-table")

    page.click("#pull-now")
    deadline = time.monotonic() + 90
    while "3" not in page.inner_text("#watermark") and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
    assert page.inner_text("#watermark") == "3"
    assert "3 rows" in page.inner_text("#pulled-versions")
    page.click("#source-dataset")
    page.wait_for_url("**/datasets/**")
    assert "Version 1" in page.inner_text("#version-heading")
    assert page.title().startswith("orders")
