"""Text measured in the report's font (DejaVu Sans, which ships with matplotlib), and wrapped
to a width: what the PDF pages, the figure margins and legends are laid out with.

Widths are the sums of the glyphs' advances in the font, as matplotlib lays text out (its pair
kerning, worth well under 1%, is covered by a 1% margin), so a line measured here fits where
it is drawn. Measuring per character keeps this cheap: a few hundred distinct characters.
"""

from __future__ import annotations

from functools import lru_cache

from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.ft2font import LoadFlags

FAMILY = "DejaVu Sans"
MEASURE_PT = 20
KERN_MARGIN = 1.01  # kerning aside, a line measured here is never narrower than the one drawn


@lru_cache(maxsize=4)
def _font_path(bold: bool) -> str:
    return findfont(FontProperties(family=FAMILY, weight="bold" if bold else "normal"))


@lru_cache(maxsize=4096)
def _advance(char: str, bold: bool) -> float:
    """Advance width of one character at 1 pt, in points (unhinted, so widths scale exactly)."""
    font = get_font(_font_path(bold))
    font.set_size(MEASURE_PT, 72)
    glyph = font.load_char(ord(char), flags=LoadFlags.NO_HINTING)
    return glyph.linearHoriAdvance / 65536 / MEASURE_PT


@lru_cache(maxsize=65536)
def _width_pt_at_1(text: str, bold: bool) -> float:
    # the sum of advances: matplotlib also kerns pairs, which moves a line by well under 1%
    return sum(_advance(c, bold) for c in text) * KERN_MARGIN


def width(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of one line of `text` at `size` points."""
    if not text:
        return 0.0
    return _width_pt_at_1(text, bold) * size / 72


def wrap(text: str, size: float, max_width: float, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `max_width` inches (a word longer than a line is
    broken between characters); explicit newlines are kept. A line's width is the sum of its
    words' and spaces' widths (measured once per word), so wrapping costs one measure a word."""
    space = width(" ", size, bold)
    lines: list[str] = []
    for para in text.split("\n"):
        line, used = "", 0.0
        for word in para.split(" "):
            w = width(word, size, bold)
            if line and used + space + w <= max_width:
                line, used = f"{line} {word}", used + space + w
                continue
            if line:
                lines.append(line)
            while w > max_width:  # a path or a hash longer than the line
                cut = max(1, _fit(word, size, max_width, bold))
                lines.append(word[:cut])
                word = word[cut:]
                w = width(word, size, bold)
            line, used = word, w
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
