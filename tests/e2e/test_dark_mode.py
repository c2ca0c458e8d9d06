"""Dark mode: it follows the system's prefers-color-scheme, the header's toggle overrides it
(saved in the browser), and text stays readable on the dark surfaces."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.e2e]

# Contrast ratio (WCAG) of each element's text against the first opaque background behind it.
CONTRASTS = """
(selector) => {
  // Tailwind's palette is oklch(): let a canvas turn any CSS colour into sRGB bytes
  const ctx = document.createElement("canvas").getContext("2d", {willReadFrequently: true});
  const rgb = (c) => {
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = "#000"; ctx.fillStyle = c; ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let p = el; p; p = p.parentElement) {
      const c = rgb(getComputedStyle(p).backgroundColor);
      if (c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].filter((el) => el.textContent.trim()).map((el) => {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    return {text: el.textContent.trim().slice(0, 30),
            ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), bg: lum(background(el))};
  });
}
"""


def _theme(page) -> str:
    return page.evaluate("document.documentElement.getAttribute('data-theme')")


def test_dark_mode_follows_the_system_and_the_toggle_overrides_it(
    asgi_server, browser, alice, tenant_a
):
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        login(page, asgi_server, "alice@example.com")
        page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/datasets/")
        assert _theme(page) == "dark"
        # the page is dark and its secondary and body text is readable on it
        cells = page.evaluate(CONTRASTS, "main .text-slate-500, main .text-slate-600, main h1")
        assert cells, "no text found to check"
        assert all(c["bg"] < 0.05 for c in cells), cells
        assert min(c["ratio"] for c in cells) >= 4.5, cells

        toggle = page.locator("#theme-toggle")
        assert toggle.get_attribute("aria-label").startswith("Theme: system")
        toggle.click()  # system -> dark (saved)
        assert _theme(page) == "dark"
        toggle.click()  # dark -> light, although the system is dark
        assert _theme(page) == "light"
        assert toggle.get_attribute("aria-label").startswith("Theme: light")
        page.reload()
        assert _theme(page) == "light"  # the choice is kept
        cells = page.evaluate(CONTRASTS, "main .text-slate-500, main h1")
        assert all(c["bg"] > 0.8 for c in cells), cells
        toggle = page.locator("#theme-toggle")
        toggle.click()  # light -> system: dark again
        assert _theme(page) == "dark"
        page.reload()
        assert _theme(page) == "dark"
    finally:
        context.close()

    light = browser.new_context(color_scheme="light")
    page = light.new_page()
    try:
        page.goto(f"{asgi_server.url}/accounts/login/")
        assert _theme(page) == "light"
    finally:
        light.close()
