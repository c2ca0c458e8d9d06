"""The whole workflow in a real Chromium, as alice would do it: upload a CSV, wait for it
to be ingested, configure IForest, start a run, watch it live over the WebSocket (served
by Daphne, executed by a real Celery worker), read the charts, move the threshold, and
download the results. A bad file is refused with a message and leaves nothing behind."""

from __future__ import annotations

import csv
import io
import re
import time

import numpy as np
import pytest

from tests.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROWS, OUTLIERS = 3_000, 30
FEATURES = ["temperature", "pressure", "vibration", "current"]


@pytest.fixture
def live_media(settings, tmp_path):
    """MEDIA_ROOT shared by the Daphne subprocess and the in-process worker (request it
    before asgi_server, which passes settings.MEDIA_ROOT on to Daphne); small chunks so the
    run reports progress several times."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_CHUNK_ROWS = 500
    return settings.MEDIA_ROOT


@pytest.fixture
def slow_progress(monkeypatch):
    """Pace the run's progress reports (in the worker thread) so a person, and the test,
    can see them arrive; the run itself is unchanged."""
    from apps.runs import tasks

    real = tasks._Execution.progress

    def paced(self, stage, done, total):
        time.sleep(0.5)
        return real(self, stage, done, total)

    monkeypatch.setattr(tasks._Execution, "progress", paced)


def _sensor_csv(path, rows: int = ROWS, outliers: int = OUTLIERS) -> set[int]:
    """Four numeric columns and a timestamp; ``outliers`` rows pushed far out. Returns their rows."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, len(FEATURES))) * [2.0, 5.0, 0.3, 1.0] + [20.0, 1013.0, 1.0, 4.0]
    bad = set(rng.choice(rows, outliers, replace=False).tolist())
    for i in bad:
        X[i] += rng.choice([-1, 1], size=len(FEATURES)) * [14.0, 35.0, 2.5, 7.0]
    stamps = np.datetime64("2024-01-01T00:00:00") + np.arange(rows) * np.timedelta64(60, "s")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", *FEATURES])
        for t, row in zip(stamps, X, strict=True):
            w.writerow([str(t).replace("T", " "), *(f"{v:.4f}" for v in row)])
    return bad


def _page_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


# Collects every state #run-progress shows, whether swapped in by the socket or not.
WATCH_PROGRESS = """() => {
  window.__noReload = "still the same page";
  window.__progress = [];
  const note = () => {
    const el = document.getElementById("run-progress");
    if (!el) return;
    const pct = el.querySelector(".run-percent");
    const entry = el.dataset.status + "|" + (pct ? pct.textContent.trim() : "") + "|" + el.innerText.replace(/\\s+/g, " ").trim();
    if (window.__progress[window.__progress.length - 1] !== entry) window.__progress.push(entry);
  };
  note();
  new MutationObserver(note).observe(document.body, { childList: true, subtree: true, characterData: true });
  document.body.addEventListener("htmx:wsAfterMessage", () => { window.__wsMessages = (window.__wsMessages || 0) + 1; });
}"""


def test_alice_uploads_detects_watches_live_and_downloads_results(
    live_media, slow_progress, asgi_server, celery_worker, tenant_a, page, tmp_path
):
    from apps.datasets.models import Dataset
    from apps.detectors.models import DetectorConfig
    from apps.runs.models import Run

    errors = _page_errors(page)
    source = tmp_path / "sensors.csv"
    injected = _sensor_csv(source)
    login(page, asgi_server, "alice@example.com")
    base = f"{asgi_server.url}/t/{tenant_a.slug}"

    # 1. Upload through the form's file input; the page follows to the dataset, which
    #    polls its status until the worker has ingested the file.
    page.goto(f"{base}/datasets/upload/")
    page.set_input_files("#upload-form input[type=file]", str(source))
    assert "sensors.csv" in page.locator("[data-file-info]").inner_text()
    page.locator("#upload-form").get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/datasets/\d+/$"))
    page.locator("#profile").wait_for(timeout=60_000)  # swapped in once ingest finished
    dataset = Dataset.objects.get(tenant=tenant_a)
    assert dataset.status == "ready"
    assert f"{ROWS:,} rows × 5 columns" in page.locator("#version-heading + dl").inner_text()
    assert "timestamp" in page.locator("#version-heading + dl").inner_text()  # the time column

    # 2. An IForest configuration flagging 1 % of the rows.
    page.goto(f"{base}/detectors/configs/new/")
    page.fill("input[name=name]", "Sensors IForest")
    page.select_option("select[name=algorithm]", "iforest")
    page.locator('[data-params-for="iforest"]').wait_for()
    page.select_option("select[name=threshold_kind]", "contamination")
    page.fill("input[name=threshold_value]", "0.01")
    page.get_by_role("button", name="Create configuration").click()
    page.wait_for_url(re.compile(r"/detectors/configs/\d+/$"))
    config = DetectorConfig.objects.get(tenant=tenant_a, name="Sensors IForest")
    assert config.current.pipeline["threshold"] == {"kind": "contamination", "value": 0.01}
    assert [
        d["key"] if isinstance(d, dict) else d[0] for d in config.current.pipeline["detectors"]
    ] == ["iforest"]

    # 3. Start a run of it on the dataset.
    page.goto(f"{base}/runs/new/")
    page.select_option("select[name=dataset_version]", str(dataset.latest_version.pk))
    page.select_option("select[name=detector]", str(config.pk))
    page.locator("#cost-guard").wait_for()
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(re.search(r"/runs/(\d+)/$", page.url).group(1))

    # 4. Live progress over the socket, with no reload of the page.
    page.evaluate(WATCH_PROGRESS)
    after_start = len(navigations)
    page.locator('#run-progress[data-status="succeeded"]').wait_for(timeout=90_000)
    assert page.evaluate("window.__noReload") == "still the same page"
    assert len(navigations) == after_start, navigations
    states = page.evaluate("window.__progress")
    running = [s for s in states if s.startswith("running|")]
    assert len({s.split("|")[1] for s in running}) >= 2, states  # the percent moved while running
    assert states[-1].startswith("succeeded|"), states
    assert page.evaluate("window.__wsMessages || 0") >= 2
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded" and run.summary["rows"] == ROWS
    assert re.search(
        r"Found \d+ anomalies in 3,000 rows", page.locator("#run-outcome").inner_text()
    )

    # 5. The results: every chart drawn by Plotly.
    page.locator("#results-link").click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}/results/$"))
    charts = page.locator("[data-plotly]")
    assert charts.count() == 5  # histogram, time series, heatmap, importance, projection
    for i in range(charts.count()):
        charts.nth(i).locator("svg.main-svg").first.wait_for(timeout=15_000)
        assert "js-plotly-plot" in charts.nth(i).get_attribute("class")

    # 6. The threshold slider: a lower threshold flags more rows, previewed in place.
    count = page.locator("#preview-count")
    before_text = count.inner_text()
    before = int(before_text.replace(",", ""))
    assert before == run.summary["anomalies"]
    # The slider moves in flagged rows (log scale): further left flags more.
    slider = page.locator("#threshold-range")
    position = int(slider.input_value())
    stops = page.evaluate("JSON.parse(document.getElementById('threshold-stops').textContent)")
    new = max(0, position - 25)
    slider.fill(str(new))
    page.wait_for_function(
        "t => document.getElementById('preview-count').textContent.trim() !== t", arg=before_text
    )
    after = int(count.inner_text().replace(",", ""))
    assert after > before, (before, after, position, run.threshold)
    assert after == stops[new]["flagged"]
    assert float(page.locator("#threshold-number").input_value()) == pytest.approx(
        stops[new]["threshold"]
    )
    assert page.locator("#threshold-save-form").is_visible()

    # 7. The CSV download: one row per dataset row.
    with page.expect_download() as info:
        page.locator("#downloads").get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == f"run-{run_id}-results.csv"
    text = open(download.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"row_id", "score", "severity", "predicted_anomaly", "reasons"} <= set(rows[0])
    assert len(rows) == ROWS
    flagged = {int(r["row_id"]) for r in rows if r["predicted_anomaly"] == "1"}
    assert all(r["reasons"] for r in rows if r["predicted_anomaly"] == "1")
    assert len(flagged) == run.summary["anomalies"]  # labels at the saved threshold
    assert len(flagged & injected) >= 0.8 * OUTLIERS, sorted(flagged ^ injected)
    assert errors == []


def test_a_png_named_csv_is_refused_with_a_message_and_leaves_no_dataset(
    live_media, asgi_server, tenant_a, page, tmp_path
):
    from apps.datasets.models import Dataset, Upload

    fake = tmp_path / "readings.csv"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    login(page, asgi_server, "alice@example.com")
    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/datasets/upload/")
    page.set_input_files("#upload-form input[type=file]", str(fake))
    page.locator("#upload-form").get_by_role("button", name="Upload").click()

    message = page.locator("#file-errors")
    message.wait_for(timeout=15_000)
    assert "readings.csv cannot be used" in message.inner_text()
    assert "not in a supported format" in message.inner_text()
    assert page.url.endswith("/datasets/upload/")
    assert not Dataset.objects.filter(tenant=tenant_a).exists()
    assert not Upload.objects.filter(tenant=tenant_a).exists()
