"""A monitor in a real Chromium: alice creates it with the form, runs it twice (a real worker
fits, then scores a drifted version), and reads the history chart, the drift table and the
latest anomalies; a bad cron expression is refused in the form."""

from __future__ import annotations

import pytest

from tests.conftest import login
from tests.web.monitors.conftest import add_version
from tests.web.runs.factories import blobs, make_config, make_version

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


def _run_now_and_wait(page, number: int) -> None:
    page.click("text=Run now")
    page.wait_for_load_state()
    for _ in range(120):
        row = page.locator(f'tr[data-execution="{number}"]')
        if row.count() and row.get_attribute("data-status") in ("succeeded", "failed"):
            break
        page.wait_for_timeout(500)
        page.reload()
    assert (
        page.locator(f'tr[data-execution="{number}"]').get_attribute("data-status") == "succeeded"
    )


def test_alice_creates_runs_and_reads_a_monitor(
    alice, tenant_a, live_media, asgi_server, celery_worker, page
):
    version = make_version(tenant_a, blobs(300, label=False), user=alice)
    config = make_config(tenant_a, alice)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, alice.email)
    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/monitors/")
    page.click("text=New monitor")
    page.fill("input[name=name]", "sensors")
    page.select_option("select[name=dataset]", str(version.dataset_id))
    page.select_option("select[name=detector]", str(config.pk))
    page.select_option("select[name=schedule]", "cron")
    page.fill("input[name=cron]", "every hour")
    page.click("text=Create monitor")
    assert "five fields" in page.inner_text("#field-cron")
    page.fill("input[name=cron]", "0 * * * *")
    page.click("text=Create monitor")
    page.wait_for_url("**/monitors/*/")
    assert "cron “0 * * * *” (UTC)" in page.inner_text("body")
    assert "UTC" in page.inner_text("#monitor-next")

    _run_now_and_wait(page, 1)
    shifted = blobs(200, seed=3, label=False)
    shifted["c"] += 5
    add_version(version.dataset, shifted)
    _run_now_and_wait(page, 2)

    page.wait_for_selector("#monitor-history .main-svg")  # Plotly drew the history chart
    assert page.locator('#drift-table tr[data-feature="c"]').get_attribute("data-drifted") == "true"
    assert (
        page.locator('#drift-table tr[data-feature="a"]').get_attribute("data-drifted") == "false"
    )
    assert page.locator("#anomaly-table tbody tr").count() > 0
    page.locator("#anomaly-table tbody a").first.click()
    page.wait_for_url("**/runs/*/results/**")
    assert errors == []
