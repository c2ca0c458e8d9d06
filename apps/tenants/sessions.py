"""Idle and absolute session timeouts: a session ends on its first request past either limit."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django_htmx.http import HttpResponseClientRedirect

LOGIN_AT = "pynomaly.login_at"
SEEN_AT = "pynomaly.seen_at"
# Writing the session on every request costs a database write; a minute's resolution is plenty.
SEEN_RESOLUTION = 60


def now() -> float:
    """Seconds since the epoch (a function, so tests can move time)."""
    return time.time()


@receiver(user_logged_in, dispatch_uid="session-timestamps")
def _stamp_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[LOGIN_AT] = request.session[SEEN_AT] = int(now())


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            expired = self._expired(request)
            if expired:
                return self._end(request, expired)
        return self.get_response(request)

    def _expired(self, request) -> str | None:
        t = int(now())
        session = request.session
        login_at = session.setdefault(LOGIN_AT, t)  # sessions from before this middleware start now
        seen_at = session.get(SEEN_AT, t)
        if t - login_at >= settings.SESSION_ABSOLUTE_TIMEOUT:
            return "absolute"
        if t - seen_at >= settings.SESSION_IDLE_TIMEOUT:
            return "idle"
        if t - seen_at >= SEEN_RESOLUTION or SEEN_AT not in session:
            session[SEEN_AT] = t
        return None

    def _end(self, request, reason: str):
        request.session_end_reason = reason  # read by the audit receiver for auth.logout
        logout(request)
        messages.info(request, "Your session has expired. Please sign in again.")
        response = redirect_to_login(request.get_full_path())
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(response["Location"])
        return response
