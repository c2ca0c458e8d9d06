"""A deep detector (AutoEncoder) run started from the browser's form on the demo-like data,
executed by a real Celery worker and watched over its socket: epochs appear beside the
progress bar, the run records its device, and its model is saved and reloads."""

import asyncio
import re

import pytest
import websockets

from tests.conftest import run_async
from tests.integration.test_realtime import _connect, _session_cookie
from tests.integration.test_runs_live import _start_run
from tests.web.runs.factories import blobs, make_config, make_version

pytestmark = pytest.mark.integration


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


def test_a_deep_run_reports_its_epochs_live_and_saves_its_model(
    live_media, asgi_server, celery_worker, alice, tenant_a
):
    from apps.common.storage import local_path
    from apps.detectors.models import TrainedModel
    from apps.runs.models import Run
    from pynomaly import persist

    version = make_version(tenant_a, blobs(2000))
    config = make_config(tenant_a, alice, name="ae", detectors=(("autoencoder", {"epoch_num": 8}),))
    cookie = _session_cookie(asgi_server, alice.email)
    run_id = _start_run(asgi_server, cookie, tenant_a, version, config)

    async def watch():
        messages = []
        for _ in range(10):
            ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run_id}/", cookie=cookie)
            try:
                while True:
                    html = await asyncio.wait_for(ws.recv(), timeout=240)
                    messages.append(html)
                    if re.search(r'data-status="(succeeded|failed|cancelled)"', html):
                        return messages
            except websockets.ConnectionClosed:
                continue
            finally:
                await ws.close()
        raise AssertionError([m[:160] for m in messages])

    messages = run_async(watch())
    epochs = [m for m in messages if 'id="run-epoch"' in m]
    assert epochs, [m[:300] for m in messages]
    assert re.search(r"Epoch \d+ / 8", epochs[-1]) and "on cpu" in epochs[-1]
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded", run.error
    assert run.device == "cpu" and run.progress_detail["epochs"] == 8
    assert run.metrics["roc_auc"] > 0.9
    model = TrainedModel.objects.get(run=run)
    with local_path(model.artifact) as path:
        assert persist.load(path, sha256=model.sha256).keys == ["autoencoder"]
