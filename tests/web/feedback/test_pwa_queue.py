"""The PWA side of offline triage: the service worker loads the queue and answers Background Sync."""

from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_the_service_worker_imports_the_verdict_queue_and_handles_its_sync_tag(client):
    body = client.get("/sw.js").content.decode()
    queue = settings.STATIC_URL + "js/verdict_queue.js"
    assert f'importScripts("{queue}")' in body
    assert 'addEventListener("sync"' in body and "PynomalyVerdicts.flush()" in body
    assert client.get(queue).status_code == 200


def test_the_triage_scripts_and_styles_are_precached_for_offline_use(client):
    body = client.get("/sw.js").content.decode()
    for path in ("js/verdict_queue.js", "js/feedback.js", "css/feedback.css"):
        assert f'"{settings.STATIC_URL}{path}"' in body, path
