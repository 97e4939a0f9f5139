"""Text measured in the report's font (DejaVu Sans, which ships with matplotlib), and wrapped
to a width: what the PDF pages, the figure margins and legends are laid out with.

Widths come from the font's glyph advances, as matplotlib lays text out (kerning between
words aside), so a line measured here is the line drawn.
"""

from __future__ import annotations

from functools import lru_cache

from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.ft2font import LoadFlags

FAMILY = "DejaVu Sans"


@lru_cache(maxsize=4)
def _font_path(bold: bool) -> str:
    return findfont(FontProperties(family=FAMILY, weight="bold" if bold else "normal"))


@lru_cache(maxsize=65536)
def _width_pt_at_1(text: str, bold: bool) -> float:
    font = get_font(_font_path(bold))
    font.set_size(100, 72)  # measured at 100 pt and scaled: sizes are exact multiples
    font.set_text(text, 0.0, flags=LoadFlags.NO_HINTING)
    w, _ = font.get_width_height()  # in 1/64 pixels at 72 dpi: 1/64 pt
    return w / 64 / 100


def width(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of one line of `text` at `size` points."""
    if not text:
        return 0.0
    return _width_pt_at_1(text, bold) * size / 72


def wrap(text: str, size: float, max_width: float, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `max_width` inches (a word longer than a line is
    broken between characters); explicit newlines are kept."""
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ")
        line = ""
        for word in words:
            trial = f"{line} {word}" if line else word
            if width(trial, size, bold) <= max_width or not line and width(word, size, bold) <= max_width:
                line = trial
                continue
            if line:
                lines.append(line)
            line = ""
            while width(word, size, bold) > max_width:  # a path or a hash longer than the line
                cut = max(1, _fit(word, size, max_width, bold))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _fit(word: str, size: float, max_width: float, bold: bool) -> int:
    """How many leading characters of `word` fit in `max_width`."""
    lo, hi = 0, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if width(word[:mid], size, bold) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def leading(size: float) -> float:
    """Baseline-to-baseline distance in inches of body text at `size` points."""
    return 1.22 * size / 72
