"""Project-level views: home redirect, health probes, PWA manifest, service worker, offline page."""

from __future__ import annotations

import contextlib
import time

import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.tenants.access import LAST_TENANT_SESSION_KEY
from apps.tenants.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to the workspace they used last, or their first one."""
    memberships = Membership.objects.for_user(request.user)
    last = request.session.get(LAST_TENANT_SESSION_KEY)
    membership = memberships.filter(tenant__slug=last).first() or memberships.first()
    if membership is None:
        return render(request, "tenants/no_tenant.html")
    return redirect("tenants:dashboard", tenant_slug=membership.tenant.slug)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


_celery_ok_at: float | None = None


def _check_celery() -> dict:
    """A round trip: a worker takes a health.ping message and runs it (a control ping alone
    says ok while a pool whose children cannot start runs nothing)."""
    global _celery_ok_at
    from pynomaly_web.celery import app
    from pynomaly_web.health import ping

    now = time.monotonic()
    if _celery_ok_at is not None and now - _celery_ok_at < settings.READYZ_CACHE_SECONDS:
        return {"cached": True}
    timeout = settings.READYZ_CELERY_TIMEOUT
    # Expires with the wait: a backlogged ping is dropped by the worker, never run late.
    result = ping.apply_async(expires=timeout)
    try:
        worker = result.get(timeout=timeout)
    except CeleryTimeoutError:
        replies = app.control.ping(timeout=min(timeout, 1.0))
        if not replies:
            raise RuntimeError(f"no Celery worker answered within {timeout:g} s") from None
        raise RuntimeError(
            f"{len(replies)} Celery worker(s) answered a ping but none ran a task "
            f"within {timeout:g} s"
        ) from None
    finally:
        with contextlib.suppress(Exception):  # a result left behind expires on its own
            result.forget()
    _celery_ok_at = time.monotonic()
    return {"worker": worker, "round_trip_ms": round((_celery_ok_at - now) * 1000, 1)}


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers, Redis answers and a Celery worker runs a task."""
    checks: dict[str, dict] = {}
    for name, check in (
        ("database", _check_database),
        ("redis", _check_redis),
        ("celery", _check_celery),
    ):
        try:
            result = check()
        except Exception as exc:  # any failure makes the probe fail, with its reason
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            checks[name] = {"ok": True, **(result or {})}
    ok = all(c["ok"] for c in checks.values())
    failed = [name for name, c in checks.items() if not c["ok"]]
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "failed": failed, "checks": checks},
        status=200 if ok else 503,
    )


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    data = {
        "name": "Pynomaly",
        "short_name": "Pynomaly",
        "description": "Find, watch and understand anomalies in your data.",
        "id": "/",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#0f172a",
        "theme_color": "#4f46e5",
        "icons": [
            {
                "src": static("icons/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static("icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static("icons/maskable-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "maskable",
            },
            {
                "src": static("icons/maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """Served from the site root so its scope covers every page."""
    response = render(
        request,
        "pwa/sw.js",
        {"shell": settings.PWA_SHELL_ASSETS},
        content_type="application/javascript",
    )
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "pwa/offline.html")


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for whatever the page links: the 32 px icon."""
    return HttpResponsePermanentRedirect(static("icons/favicon-32.png"))
