"""A report figure as data and a drawing: what it shows (title, caption, provenance), how many
panels it has and how to draw them, laid out here at whatever width it is wanted (the report
page's text width, a paper's column, an export width).

A figure function computes its data and returns a FigureResult whose `panels` describe the
grid and hold a `draw(axes)` callback; it never sizes anything. `heights()` gives the range of
heights the grid can take at a width (the PDF pages stretch figures within it to fill a page),
and `draw()` draws it into a Figure or a SubFigure of a page. Margins come from the labels
actually drawn (tick labels measured in the report's font), so nothing is clipped and no
solver runs: a hand layout is several times faster to draw than a constrained one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import FuncFormatter, NullFormatter

import energybench.report.typeset as typeset
from energybench.report.style import Size


@dataclass
class Panels:
    """A grid of axes and how to draw into them."""

    n: int
    draw: Callable[[list], None]  # draws into the n axes (ticks, labels, data); no legend, no sizing
    ncols: int = 2  # at most this many columns; fewer when the width leaves a panel under min_width
    min_width: float = 1.9  # inches of axes width a panel needs to stay readable
    aspect: float = 0.62  # axes height / axes width, preferred; pages may stretch it 0.75x-1.35x
    square: bool = False  # aspect fixed at 1 (a matrix): never stretched
    legend: list = field(default_factory=list)  # handles of one legend above the panels
    titles: bool = False  # the panels have titles
    top_axis: bool = False  # a secondary x axis with a label on top
    sharey: bool = False  # inner columns show no y tick labels (the y axes were shared in draw)
    bottom_em: float = 0.0  # more room under each panel (rotated tick labels), in font sizes
    left_em: float = 0.0  # more room left of each panel, in font sizes
    after: Callable[[list], None] | None = None  # called once the axes have their final place (label placement)

    STRETCH = (0.75, 1.35)


@dataclass
class FigureResult:
    id: str  # the section id in the HTML report; the file name of an exported figure
    title: str
    caption: str  # what is plotted, how it is aggregated, over how many seeds
    provenance: str  # counted, modelled or measured, and by what
    panels: Panels | None = None
    note: str | None = None  # why the figure is omitted (panels is None)
    figure: Figure | SubFigure | None = None  # once drawn

    @property
    def omitted(self) -> bool:
        return self.panels is None


def omitted(fid: str, title: str, caption: str, provenance: str, note: str) -> FigureResult:
    return FigureResult(fid, title, caption, provenance, None, note)


# ----- geometry -------------------------------------------------------------------------------------
def columns(p: Panels, size: Size) -> int:
    """Columns of the grid at this width: as many as asked while each panel keeps min_width."""
    for c in range(max(1, min(p.ncols, p.n)), 0, -1):
        left = _left_default(p, size)
        if (size.width - left - 0.08 - (c - 1) * left) / c >= p.min_width or c == 1:
            return c
    return 1


def _left_default(p: Panels, size: Size) -> float:
    """Estimated room left of a panel (tick labels of ~5 characters and a y label line)."""
    return size.em * (4.4 + p.left_em) + 0.05


def _pads(p: Panels, size: Size) -> tuple[float, float]:
    """(room above, room below) each panel, in inches."""
    top = 0.5 + (1.5 if p.titles else 0) + (3.0 if p.top_axis else 0)
    bottom = 3.2 + p.bottom_em
    return size.em * top, size.em * bottom


def _legend_rows(p: Panels, size: Size) -> tuple[int, int]:
    """(rows, columns) of the legend above the panels at this width."""
    if not p.legend:
        return 0, 0
    em = size.small / 72
    entry = [em * (2.6 + 0.5 + 1.2) + typeset.width(h.get_label(), size.small) for h in p.legend]
    for ncol in range(len(entry), 0, -1):
        rows = math.ceil(len(entry) / ncol)
        widths = [max(entry[c::ncol]) for c in range(ncol)]
        if sum(widths) <= size.width - 0.1 or ncol == 1:
            return rows, ncol
    return len(entry), 1


def _legend_height(p: Panels, size: Size) -> float:
    rows, _ = _legend_rows(p, size)
    return 0.0 if rows == 0 else rows * 1.45 * size.small / 72 + 0.35 * size.em


def heights(p: Panels, size: Size) -> tuple[float, float, float]:
    """(least, preferred, most) height in inches of the figure at size.width."""
    ncols = columns(p, size)
    nrows = math.ceil(p.n / ncols)
    left = _left_default(p, size)
    aw = (size.width - left - 0.08 - (ncols - 1) * left) / ncols
    top, bottom = _pads(p, size)
    fixed = nrows * (top + bottom) + _legend_height(p, size)
    ah = aw * (1.0 if p.square else p.aspect)
    lo, hi = (1.0, 1.0) if p.square else Panels.STRETCH
    return fixed + nrows * ah * lo, fixed + nrows * ah, fixed + nrows * ah * hi


# ----- drawing --------------------------------------------------------------------------------------
def draw(result: FigureResult, container: Figure | SubFigure, size: Size, height: float) -> None:
    """Draw `result` into `container`, which is size.width x `height` inches. Call under
    style.drawing(size)."""
    p = result.panels
    assert p is not None, "an omitted figure has nothing to draw"
    ncols = columns(p, size)
    nrows = math.ceil(p.n / ncols)
    W, H = size.width, height
    legend_h = _legend_height(p, size)
    top, bottom = _pads(p, size)
    panel_h = (H - legend_h) / nrows
    ah = max(panel_h - top - bottom, 0.3)
    # placed first where they will about end up: the tick locators, which decide the labels that
    # the margins are measured from, depend on the axes' size
    guess = _left_default(p, size)
    gw = (W - ncols * guess - 0.08) / ncols
    axes = []
    for k in range(p.n):
        r, c = divmod(k, ncols)
        y0 = H - legend_h - r * panel_h - top - ah
        axes.append(container.add_axes(((guess + c * (gw + guess)) / W, y0 / H, gw / W, ah / H)))
    p.draw(axes)
    for ax in axes:
        fit_ylabel(ax, ah, size)
    if p.sharey:  # one y scale for every panel; its labels on the first column only
        for k, ax in enumerate(axes[1:], start=1):
            ax.sharey(axes[0])
            if k % ncols:
                ax.tick_params(labelleft=False)
                ax.set_ylabel("")
    # the room each column needs on its left, measured from what was drawn
    left = [0.0] * ncols
    for k, ax in enumerate(axes):
        c = k % ncols
        left[c] = max(left[c], _left_needed(ax, size, inner=p.sharey and c > 0))
    right = 0.08 + max((_right_needed(ax, size) for ax in axes), default=0.0)
    aw = (W - sum(left) - right) / ncols
    for k, ax in enumerate(axes):
        r, c = divmod(k, ncols)
        x0 = sum(left[: c + 1]) + c * aw
        y0 = H - legend_h - r * panel_h - top - ah
        ax.set_position((x0 / W, y0 / H, aw / W, ah / H))
    if p.after is not None:
        p.after(axes)
    if p.legend:
        _, ncol = _legend_rows(p, size)
        container.legend(handles=p.legend, loc="upper left", ncols=ncol, bbox_to_anchor=(0.0, 1.0),
                         bbox_transform=container.transSubfigure, borderaxespad=0.15, fontsize=size.small)
    result.figure = container


def fit_ylabel(ax, height: float, size: Size) -> None:
    """A y label no longer than its axes are tall (`height` inches): one line broken in two at the
    space nearest its middle, then a smaller font, down to the least (style.MIN_FONT)."""
    from energybench.report.style import MIN_FONT

    label = ax.yaxis.label
    text = label.get_text()
    if not text:
        return
    font = label.get_fontsize()

    def longest(t: str, f: float) -> float:
        return max(typeset.width(line, f) for line in t.split("\n"))

    if longest(text, font) <= height:
        return
    if "\n" not in text and " " in text:
        spaces = [k for k, c in enumerate(text) if c == " "]
        k = min(spaces, key=lambda k: abs(k - len(text) / 2))
        text = text[:k] + "\n" + text[k + 1:]
    while longest(text, font) > height and font > MIN_FONT:
        font = max(MIN_FONT, font - 0.5)
    label.set_text(text)
    label.set_fontsize(font)


def draw_or_note(result: FigureResult, container: Figure | SubFigure, size: Size, height: float) -> None:
    """`draw`, or, where drawing the figure fails, a visible note in its place naming the error:
    one broken figure never takes the report with it (a warning says so too)."""
    import warnings

    try:
        draw(result, container, size, height)
    except Exception as exc:  # noqa: BLE001 (any failure of one figure: the report is still written)
        for artist in list(container.axes) + list(container.legends) + list(container.texts):
            artist.remove()
        message = failure_note(result, exc)
        lines = typeset.wrap(message, size.font, size.width * 0.95)
        container.text(0.02, 0.5, "\n".join(lines), ha="left", va="center", color="#a00000",
                       fontsize=size.font, transform=container.transSubfigure
                       if isinstance(container, SubFigure) else container.transFigure)
        warnings.warn(message, stacklevel=2)
        result.figure = container


def failure_note(result: FigureResult, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"Figure '{result.title}' could not be drawn: {type(exc).__name__}"
            + (f": {text[:300]}" if text else "") + ". The rest of the report is complete.")


def _left_needed(ax, size: Size, inner: bool) -> float:
    """Inches left of an axes for its y tick labels and y label."""
    em = size.em
    label = ax.get_ylabel()
    lines = label.count("\n") + 1 if label else 0
    ticks = 0.0
    if not inner:
        ticks = max((typeset.width(s, size.small) for s in _tick_labels(ax.yaxis, ax.get_ylim())), default=0.0)
        ticks += (2.5 + 2.0) / 72
    return ticks + lines * 1.2 * em + (2.5 / 72 if lines else 0) + 0.35 * em


def _right_needed(ax, size: Size) -> float:
    """Half of the last x tick label can hang past the axes' right edge."""
    labels = _tick_labels(ax.xaxis, ax.get_xlim())
    return 0.5 * typeset.width(labels[-1], size.small) if labels else 0.0


def _tick_labels(axis, lim) -> list[str]:
    if not axis.get_visible():
        return []
    locs = np.asarray(axis.get_major_locator()(), dtype=float)
    lo, hi = min(lim), max(lim)
    locs = [v for v in locs if lo - 1e-9 * abs(hi - lo) <= v <= hi + 1e-9 * abs(hi - lo)]
    if not locs:
        return []
    return [s for s in axis.get_major_formatter().format_ticks(locs) if s]


def standalone(result: FigureResult, size: Size, height: float | None = None) -> Figure:
    """`result` drawn as a Figure of its own (an exported file), at its preferred height."""
    h = heights(result.panels, size)[1] if height is None else height
    fig = Figure(figsize=(size.width, h))
    draw(result, fig, size, h)
    return fig


def plain_log_ticks(axis) -> None:
    """Plain-text tick labels on a log or symlog axis: the report turns mathtext off (text.parse_math,
    report/style.py), so matplotlib's default 10^k labels would show as raw '$\\mathdefault{10^{0}}$'."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())

