"""Text measured in the report's font (DejaVu Sans, which ships with matplotlib), and wrapped
to a width: what the PDF pages, the figure margins and legends are laid out with.

Widths are the sums of the glyphs' advances in the font, as matplotlib lays text out (its pair
kerning, worth well under 1%, is covered by a 1% margin), so a line measured here fits where
it is drawn. Measuring per character keeps this cheap: a few hundred distinct characters.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

from matplotlib.font_manager import FontProperties, findfont, fontManager, get_font
from matplotlib.ft2font import LoadFlags

FAMILY = "DejaVu Sans"
# The fallback chain (matplotlib >= 3.6 falls back glyph by glyph through font.family): DejaVu
# Sans covers Latin, Greek, Cyrillic, Arabic, Hebrew and math symbols; the Noto fonts, where the
# system has them (scripts/install-system-tools installs them), CJK, emoji and other scripts.
PREFERRED = (FAMILY, "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans Arabic", "Noto Sans Devanagari",
             "Noto Sans Thai", "Noto Sans Symbols2", "Noto Emoji", "Symbola", "DejaVu Serif")
MEASURE_PT = 20
KERN_MARGIN = 1.01  # kerning aside, a line measured here is never narrower than the one drawn


@lru_cache(maxsize=1)
def families() -> list[str]:
    """The chain's fonts this machine has, in order (DejaVu Sans always: matplotlib ships it).
    Colour emoji fonts (bitmap CBDT) are left out: matplotlib draws outlines only."""
    have = {f.name for f in fontManager.ttflist}
    if not set(PREFERRED) <= have:
        have |= _add_system_fonts(set(PREFERRED) - have)
    return [f for f in PREFERRED if f == FAMILY or f in have]


def _add_system_fonts(missing: set[str]) -> set[str]:
    """Families of the chain found among the system's font files but not in matplotlib's font
    cache, which is built once per user and never sees fonts installed after it: added now."""
    from matplotlib.font_manager import findSystemFonts

    hints = {name.replace(" ", "").lower()[:11] for name in missing}  # "notosanscjk" matches NotoSansCJK-Bold.ttc
    for path in findSystemFonts():
        stem = path.rsplit("/", 1)[-1].lower().replace("-", "").replace("_", "")
        if any(stem.startswith(h) for h in hints):
            try:
                fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable file: that font stays out
                continue
    return {f.name for f in fontManager.ttflist} & missing


@lru_cache(maxsize=32)
def _font_path(family: str, bold: bool) -> str:
    return findfont(FontProperties(family=family, weight="bold" if bold else "normal"), fallback_to_default=True)


@lru_cache(maxsize=32)
def _charmap(path: str) -> frozenset[int]:
    return frozenset(get_font(path).get_charmap())


@lru_cache(maxsize=8192)
def _font_for(char: str, bold: bool) -> str | None:
    """The first font of the chain that has a glyph for `char`, or None."""
    for fam in families():
        path = _font_path(fam, bold)
        if ord(char) in _charmap(path):
            return path
    return None


def drawable(char: str) -> bool:
    return char == "\n" or _font_for(char, False) is not None


def substitute(char: str) -> str:
    """A readable stand-in for a character no font of the chain can draw."""
    return f"[U+{ord(char):04X}]"


_warned: set[str] = set()


def readable(text: str) -> str:
    """`text` with every character no installed font can draw replaced by its code point
    ([U+732B]); the first time a character is met, one warning names it."""
    if not isinstance(text, str) or all(drawable(c) for c in text):
        return text
    missing = sorted({c for c in text if not drawable(c)} - _warned)
    if missing:
        _warned.update(missing)
        warnings.warn("no installed font can draw " + ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing)
                      + "; the report shows the code point instead (install fonts that have it, e.g. the Debian "
                      "packages fonts-noto-core, fonts-noto-cjk and fonts-symbola, to draw them)", stacklevel=2)
    return "".join(c if drawable(c) else substitute(c) for c in text)


def readable_figure(fig) -> None:
    """Every text of a drawn matplotlib figure made readable (see `readable`), before it is saved."""
    from matplotlib.axis import Axis
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    for axis in fig.findobj(Axis):  # tick labels are made again from the formatter when drawn
        for fmt in (axis.get_major_formatter(), axis.get_minor_formatter()):
            if isinstance(fmt, FixedFormatter):
                fmt.seq = [readable(str(t)) for t in fmt.seq]
            elif isinstance(fmt, FuncFormatter) and not getattr(fmt.func, "readable", False):
                fmt.func = _readable_func(fmt.func)
    for t in fig.findobj(Text):
        text = t.get_text()
        if text:
            fixed = readable(text)
            if fixed != text:
                t.set_text(fixed)


def _readable_func(func):
    def label(x, pos=None):
        return readable(str(func(x, pos)))

    label.readable = True
    return label


@lru_cache(maxsize=4096)
def _advance(char: str, bold: bool) -> float:
    """Advance width of one character at 1 pt, in points (unhinted, so widths scale exactly),
    in the first font of the chain that has it; a character none has measures as its substitute."""
    path = _font_for(char, bold)
    if path is None:
        return sum(_advance(c, bold) for c in substitute(char))
    font = get_font(path)
    font.set_size(MEASURE_PT, 72)
    glyph = font.load_char(ord(char), flags=LoadFlags.NO_HINTING)
    return glyph.linearHoriAdvance / 65536 / MEASURE_PT


@lru_cache(maxsize=65536)
def _width_pt_at_1(text: str, bold: bool) -> float:
    # the sum of advances: matplotlib also kerns pairs, which moves a line by well under 1%
    return sum(_advance(c, bold) for c in text) * KERN_MARGIN


def width(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of `text` at `size` points (its widest line)."""
    if not text:
        return 0.0
    return max(_width_pt_at_1(line, bold) for line in text.split("\n")) * size / 72


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
