#!/usr/bin/env python3
"""Screenshot an HTML report in headless Chromium and check the page is not blank.

Usage: python scripts/screenshot_report.py REPORT.html [--out REPORT.png] [--width 1280] [--height 2000]
                                           [--palette] [--min-colours 16] [--min-ink 0.02]

Exit status: 0 when the screenshot shows a rendered page, 1 when it is blank (too few colours,
or almost all background), 2 when Chromium is missing or fails. Chromium runs with no network,
sync, updates or first-run work, in a throwaway profile, so the check also shows that the report
renders with no external request.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1")


def find_browser(name: str | None = None) -> str | None:
    if name:
        return shutil.which(name) or (name if Path(name).is_file() else None)
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2000, browser: str | None = None,
               timeout: float = 120) -> Path:
    """Render `html` into `png` with headless Chromium; RuntimeError if it produced nothing."""
    exe = find_browser(browser)
    if exe is None:
        raise FileNotFoundError(f"no Chromium found (looked for {', '.join(BROWSERS)}); "
                                "Debian: apt-get install chromium")
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="eb-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
               html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {tail}")
    return png


def ink_stats(png: Path) -> dict[str, float]:
    """Distinct colours and the fraction of pixels that differ from the most common colour
    (the page background)."""
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
        total = rgb.width * rgb.height
    background = max(colours)[0] if colours else total
    return {"distinct_colours": len(colours), "ink_fraction": 1 - background / total,
            "width": rgb.width, "height": rgb.height}


def to_palette(png: Path, colours: int = 256) -> None:
    """Rewrite the PNG with an adaptive palette: a few times smaller, visually the same for a
    page of flat colours and text (used for the screenshot kept in reports/)."""
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html", type=Path, help="the HTML report")
    p.add_argument("--out", type=Path, help="screenshot path (default: the report's name with .png)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=2000)
    p.add_argument("--browser", help="Chromium executable (default: the first of %s on PATH)" % ", ".join(BROWSERS))
    p.add_argument("--palette", action="store_true", help="save the screenshot with a 256-colour palette")
    p.add_argument("--min-colours", type=int, default=16, help="fewer distinct colours than this is blank")
    p.add_argument("--min-ink", type=float, default=0.02,
                   help="a smaller fraction of non-background pixels than this is blank")
    args = p.parse_args(argv)
    if not args.html.is_file():
        print(f"screenshot_report: {args.html} is not a file", file=sys.stderr)
        return 2
    out = args.out or args.html.with_suffix(".png")
    try:
        screenshot(args.html, out, args.width, args.height, args.browser)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_report: {exc}", file=sys.stderr)
        return 2
    stats = ink_stats(out)
    if args.palette:
        to_palette(out)
    blank = stats["distinct_colours"] < args.min_colours or stats["ink_fraction"] < args.min_ink
    verdict = "BLANK" if blank else "ok"
    print(f"{out}: {stats['width']}x{stats['height']}, {stats['distinct_colours']} colours, "
          f"{100 * stats['ink_fraction']:.1f}% non-background pixels: {verdict}")
    return 1 if blank else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
