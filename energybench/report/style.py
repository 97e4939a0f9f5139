"""How the report's figures look: one colour, marker and line style per method (the same in
every figure, report, export and comparison), the line style and marker fill that tell the
runs of a comparison apart, and the matplotlib settings for a figure width.

The method colours are Paul Tol's "muted" qualitative palette plus black: every pair stays at
least 15 CIELAB units apart for normal vision and simulated protan, deutan and tritan vision
(Machado et al. 2009). In greyscale some colours share a lightness; every pair whose lightness
differs by less than 10 L* differs in line style, and every method has its own marker
(tests/report/test_style.py checks all three).
"""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass

import matplotlib

import energybench.report.typeset as typeset


@dataclass(frozen=True)
class Look:
    """How a method is drawn."""

    colour: str
    marker: str
    linestyle: str = "-"


# Tol muted: indigo #332288, cyan #88CCEE, teal #44AA99, green #117733, olive #999933,
# sand #DDCC77, rose #CC6677, wine #882255, purple #AA4499.
METHOD_LOOKS = {
    "sharing": Look("#CC6677", "D", "-"),
    "finetune": Look("#332288", "o", "-"),
    "joint": Look("#000000", "s", "--"),  # an upper bound: dashed, as a reference line
    "eeil": Look("#117733", "^", "-"),
    "icarl": Look("#AA4499", ">", "--"),
    "lucir": Look("#882255", "v", "--"),
    "lwf": Look("#44AA99", "<", ":"),
    "progressive": Look("#999933", "P", "--"),
    "scratch": Look("#88CCEE", "X", "-"),
    "tree": Look("#DDCC77", "h", "--"),
}
# Methods the table does not know (a user's own) take one of these, by a hash of the name, so
# that a method looks the same in every report: Okabe-Ito colours the table does not use.
SPARE_COLOURS = ("#E69F00", "#0072B2", "#D55E00", "#56B4E9", "#009E73", "#CC79A7")
SPARE_MARKERS = ("*", "p", "d", "H", "8")
SPARE_LINESTYLES = ("-", "--", ":", "-.")
SPARES = tuple(Look(SPARE_COLOURS[k % 6], SPARE_MARKERS[k % 5], SPARE_LINESTYLES[(k // 6) % 4])
               for k in range(24))

# The runs of a comparison: line style and marker fill (the method keeps colour and marker).
RUN_LINESTYLES = ("-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (1, 3)), (0, (9, 3)),
                  (0, (3, 1, 3, 3)))
RUN_FILLS = ("full", "none", "left", "bottom", "full", "none", "right", "top")
MAX_RUNS = len(RUN_LINESTYLES)

# Colours of things that are not methods: phases of a cost, power sensors.
GREY = "#BBBBBB"
DEVICE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def method_looks(methods: list[str]) -> dict[str, Look]:
    """method -> Look: fixed for known methods; for others by a hash of the name, probing past
    looks already taken in this set (so two unknown methods never share one)."""
    out = {m: METHOD_LOOKS[m] for m in methods if m in METHOD_LOOKS}
    taken: set[int] = set()
    for m in sorted(m for m in methods if m not in METHOD_LOOKS):
        k = zlib.crc32(m.encode()) % len(SPARES)
        while k in taken and len(taken) < len(SPARES):
            k = (k + 1) % len(SPARES)
        taken.add(k)
        out[m] = SPARES[k]
    return {m: out[m] for m in methods}


def run_line(k: int) -> tuple[object, str]:
    """(line style, marker fill) of the k-th run of a comparison."""
    return RUN_LINESTYLES[k % MAX_RUNS], RUN_FILLS[k % MAX_RUNS]


# ----- sizes ----------------------------------------------------------------------------------------
MIN_FONT = 7.0  # no text below this at print size
SINGLE_IN, DOUBLE_IN = 3.3, 7.0  # a paper's column and its full text width


@dataclass(frozen=True)
class Size:
    """A figure width and the font sizes and line weights drawn at it (in points)."""

    width: float  # inches
    font: float  # axis labels and titles; tick labels and legends one step smaller, never below MIN_FONT

    @property
    def small(self) -> float:
        return max(MIN_FONT, self.font - 0.5)

    @property
    def em(self) -> float:
        """The font size in inches: the unit of the margins around panels."""
        return self.font / 72

    @property
    def line(self) -> float:
        return 1.0 if self.font <= 7 else 1.3

    @property
    def marker(self) -> float:
        return 3.5 if self.font <= 7 else 4.5

    def rc(self) -> dict:
        return {
            "svg.fonttype": "none",  # text stays text in SVG: small, searchable, selectable
            "svg.hashsalt": "energybench",  # fixed element ids: a rebuilt report is identical
            "pdf.fonttype": 42,  # TrueType, not Type 3: what publishers' PDF checks accept
            "text.parse_math": False,  # method and class names are plain text, whatever they hold
            "text.usetex": False,  # a user's rcParams must not hand '$' in a class name to LaTeX
            # DejaVu Sans ships with matplotlib (the same on every machine); the fonts after it, where
            # installed, draw the scripts it lacks (typeset.families)
            "font.family": typeset.families(),
            "font.size": self.font,
            "axes.titlesize": self.font,
            "axes.labelsize": self.font,
            "legend.fontsize": self.small,
            "legend.title_fontsize": self.small,
            "xtick.labelsize": self.small,
            "ytick.labelsize": self.small,
            "xtick.major.size": 2.5,
            "ytick.major.size": 2.5,
            "xtick.major.pad": 2.0,
            "ytick.major.pad": 2.0,
            "axes.labelpad": 2.5,
            "axes.titlepad": 3.0,
            "axes.linewidth": 0.6,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "grid.linewidth": 0.5,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "lines.linewidth": self.line,
            "lines.markersize": self.marker,
            "errorbar.capsize": 1.5,
            "hatch.linewidth": 0.5,
            "patch.linewidth": 0.4,
            "legend.frameon": False,
            "legend.handlelength": 2.6,
            "legend.columnspacing": 1.2,
            "legend.handletextpad": 0.5,
            "legend.borderaxespad": 0.2,
            "legend.borderpad": 0.2,
            "figure.dpi": 72,  # one figure unit is one point: text measures the same in every format
            "savefig.dpi": 300,  # raster output (PNG, the confusion matrices inside a PDF)
        }


def size_for(width: float) -> Size:
    """The Size of a figure `width` inches wide: 7 pt at a paper column, 8 pt at a full text
    width, up to 9 pt wider still."""
    if width <= SINGLE_IN + 0.2:
        font = MIN_FONT
    else:
        font = min(9.0, MIN_FONT + round(2 * (width - SINGLE_IN) / (DOUBLE_IN - SINGLE_IN)) / 2)
    return Size(width, font)


@contextlib.contextmanager
def drawing(size: Size):
    """matplotlib settings for figures of this size, while they are built and saved. A fallback
    font without a bold face (Symbola) is used at its regular weight without a log line each time."""
    import logging

    log = logging.getLogger("matplotlib.font_manager")
    level = log.level
    log.setLevel(max(level, logging.ERROR))
    try:
        with matplotlib.rc_context(size.rc()), _font_lookups_cached():
            yield
    finally:
        log.setLevel(level)


_FONT_RC = ("font.family", "font.serif", "font.sans-serif", "font.cursive", "font.fantasy", "font.monospace")


@contextlib.contextmanager
def _font_lookups_cached():
    """Every text matplotlib lays out looks up the whole fallback chain (typeset.families(), one
    findfont per family, each re-reading rcParams): a third of the time a page takes to draw.
    The same properties under the same font settings find the same fonts, so each is looked up
    once while figures are drawn; the fonts chosen, and so the output, are unchanged."""
    from matplotlib.font_manager import fontManager

    find = fontManager._find_fonts_by_props
    found: dict = {}

    def cached(prop, fontext="ttf", directory=None, fallback_to_default=True, rebuild_if_missing=True):
        rc = tuple(tuple(dict.__getitem__(matplotlib.rcParams, k)) for k in _FONT_RC)
        key = (hash(prop), tuple(prop.get_family()), fontext, directory, fallback_to_default, rebuild_if_missing, rc)
        fonts = found.get(key)
        if fonts is None:
            fonts = found[key] = find(prop, fontext, directory, fallback_to_default, rebuild_if_missing)
        return fonts

    if "_find_fonts_by_props" in vars(fontManager):  # already cached by an enclosing drawing()
        yield
        return
    fontManager._find_fonts_by_props = cached
    try:
        yield
    finally:
        del fontManager._find_fonts_by_props
