"""Draw Pynomaly's app icons with Pillow: ``python -m apps.theme.icons`` rewrites static/icons/.

The mark is an indigo tile with a white line chart whose one spike carries a red dot: the
anomaly. "any" icons are a rounded tile on transparency; maskable and Apple icons are
full-bleed, with the mark kept inside the central 80 % safe zone a launcher may crop to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[2] / "static" / "icons"
INDIGO = (79, 70, 229, 255)  # tailwind indigo-600, the manifest's theme_color
WHITE = (255, 255, 255, 255)
RED = (239, 68, 68, 255)  # tailwind red-500
SUPERSAMPLE = 4

# The chart in unit coordinates (x right, y down); the 5th point is the anomaly.
CHART = [
    (0.0, 0.62),
    (0.18, 0.55),
    (0.34, 0.66),
    (0.5, 0.52),
    (0.66, 0.08),
    (0.8, 0.6),
    (1.0, 0.48),
]
ANOMALY = 4


def _mark(draw: ImageDraw.ImageDraw, left: float, top: float, size: float) -> None:
    """Draw the chart and its red dot inside the square (left, top, size)."""
    # y is stretched so that the dot's top and the line's lowest point sit evenly in the square.
    points = [(left + x * size, top + (0.16 + y * 1.1) * size) for x, y in CHART]
    width = max(1, round(size * 0.085))
    draw.line(points, fill=WHITE, width=width, joint="curve")
    for x, y in (points[0], points[-1]):  # round the line's ends
        r = width * 0.48
        draw.ellipse((x - r, y - r, x + r, y + r), fill=WHITE)
    x, y = points[ANOMALY]
    r = size * 0.11
    ring = size * 0.045
    draw.ellipse((x - r - ring, y - r - ring, x + r + ring, y + r + ring), fill=WHITE)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=RED)


def draw_icon(px: int, *, maskable: bool = False, full_bleed: bool = False) -> Image.Image:
    """One icon of ``px`` pixels; maskable/full-bleed icons have no transparent corners."""
    s = px * SUPERSAMPLE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if maskable or full_bleed:
        draw.rectangle((0, 0, s, s), fill=INDIGO)
        # Maskable: everything inside the 80 % circle; the mark's square fits in it with room.
        content = s * (0.55 if maskable else 0.62)
    else:
        draw.rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.22, fill=INDIGO)
        content = s * 0.68
    offset = (s - content) / 2
    _mark(draw, offset, offset, content)
    img = img.resize((px, px), Image.Resampling.LANCZOS)
    return img.convert("RGB") if (maskable or full_bleed) else img


ICONS: dict[str, dict[str, Any]] = {
    "icon-192.png": {"px": 192},
    "icon-512.png": {"px": 512},
    "maskable-192.png": {"px": 192, "maskable": True},
    "maskable-512.png": {"px": 512, "maskable": True},
    "apple-touch-icon.png": {"px": 180, "full_bleed": True},  # iOS rounds the corners itself
    "favicon-32.png": {"px": 32},
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, kwargs in ICONS.items():
        draw_icon(**kwargs).save(OUT / name, optimize=True)
        print(OUT / name)


if __name__ == "__main__":
    main()
