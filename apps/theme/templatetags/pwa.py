"""Template tags for the service worker."""

from __future__ import annotations

import hashlib
import json

from django import template
from django.contrib.staticfiles import finders
from django.template import loader
from django.templatetags.static import static
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def shell_version(paths: list[str]) -> str:
    """A short hash of the shell's URLs, file contents and offline page.

    It names the service worker's cache, so any change to a pre-cached file changes
    sw.js, which makes browsers install the new worker and drop the old cache, also
    in development where static URLs carry no content hash.
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(static(path).encode())
        found = finders.find(path)
        if found:
            with open(found, "rb") as fh:
                digest.update(fh.read())
    digest.update(loader.get_template("pwa/offline.html").template.source.encode())
    return digest.hexdigest()[:12]


@register.simple_tag
def shell_urls(paths: list[str]) -> SafeString:
    """The shell's static URLs as a JavaScript array literal."""
    return mark_safe(json.dumps([static(path) for path in paths]))  # JSON of URL strings
