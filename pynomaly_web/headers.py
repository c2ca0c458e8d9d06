"""Permissions-Policy on every response, built once from ``settings.PERMISSIONS_POLICY``.

The header is one fixed string per process: a dependency for it would add its own settings
format and nothing else, so these few lines stay here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin


def permissions_policy(policy: dict[str, list[str]]) -> str:
    """``{"camera": [], "fullscreen": ["self"]}`` -> ``camera=(), fullscreen=(self)``."""

    def origin(allowed: str) -> str:
        return allowed if allowed == "self" else '"' + allowed + '"'

    return ", ".join(
        f"{feature}=({' '.join(origin(a) for a in allow)})" for feature, allow in policy.items()
    )


class PermissionsPolicyMiddleware(MiddlewareMixin):  # the mixin makes it async-capable
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault(
            "Permissions-Policy", permissions_policy(settings.PERMISSIONS_POLICY)
        )
        return response
