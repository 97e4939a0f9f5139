"""The last phase's confusion matrices, one panel per method."""

from __future__ import annotations

import math

import numpy as np

from energybench.report.canvas import FigureResult, Panels, omitted
from energybench.report.rundir import RunData


def fig_confusion(run: RunData, looks) -> FigureResult:
    import energybench.report.typeset as typeset

    fid, title = "confusion", "Confusion matrices, last phase"
    caption = ("Confusion matrix of each method's primary classifier after the last phase, at its optimal sharing "
               f"point (else its lowest sharing level; each panel's title gives the sharing achieved), for seed "
               f"{run.seeds[0]}, the first of {len(run.seeds)} seed(s); rows are true "
               "classes, columns predictions, in class order; colour is the share of each true class "
               "(row-normalised), numbers are counts (up to 10 classes). Lines mark phase boundaries.")
    prov = "Measured: test-set predictions."
    mats = [c for c in (run.confusion(m) for m in run.methods) if c is not None]
    if not mats:
        return omitted(fid, title, caption, prov, "Omitted: the run directory has no confusion_phase<k>.csv for "
                                                  "the last phase of any method (cells/ missing).")
    names = [lb[:14] for c in mats for lb in c.labels]
    name_em = max(typeset.width(n, 1.0) * 72 for n in names) if names else 2.0

    def draw(axes):
        for ax, c in zip(axes, mats):
            mat = c.matrix.astype(float)
            rows = mat.sum(axis=1, keepdims=True)
            share = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
            ax.imshow(share, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")  # dark, never black
            n = len(mat)
            if n <= 10:
                for i in range(n):
                    for j in range(n):
                        if c.matrix[i, j]:
                            ax.text(j, i, str(c.matrix[i, j]), ha="center", va="center",
                                    color="white" if share[i, j] > 0.55 else "black")
            step = max(1, math.ceil(n / 20))
            ticks = list(range(0, n, step))
            labels = [c.labels[k][:14] for k in ticks]
            ax.set_xticks(ticks, labels, rotation=90)
            ax.set_yticks(ticks, labels)
            ax.grid(False)
            for b in np.cumsum(c.phase_sizes)[:-1]:
                if b < n:
                    ax.axhline(b - 0.5, color=looks[c.method].colour, linewidth=1.0)
                    ax.axvline(b - 0.5, color=looks[c.method].colour, linewidth=1.0)
            # (the caption says which phase and seed: the title keeps to what differs, so it fits a panel)
            ax.set_title(f"{c.method}, {100 * run.achieved(c.method, c.sharing):.3g}% shared", loc="left",
                         color=looks[c.method].colour if looks[c.method].colour != "#DDCC77" else "black")
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")

    missing = [m for m in run.methods if m not in {c.method for c in mats}]
    if missing:
        caption += f" No matrix recorded for: {', '.join(missing)}."
    return FigureResult(fid, title, caption, prov,
                        Panels(len(mats), draw, ncols=3 if len(mats) > 4 else 2, min_width=1.8, square=True,
                               titles=True, bottom_em=name_em * 0.9, left_em=name_em - 2.5, after=fit_titles))


def fit_titles(axes) -> None:
    """Panel titles made to fit their axes once laid out: smaller down to the least font size,
    then cut with an ellipsis (the caption says what each panel is), never clipped by a neighbour."""
    import energybench.report.typeset as typeset
    from energybench.report.style import MIN_FONT

    if not axes:
        return
    renderer = axes[0].get_figure(root=True)._get_renderer()
    for title, ax in ((t, ax) for ax in axes for t in (ax._left_title, ax.title, ax._right_title)):
        text = title.get_text()
        if not text:
            continue
        room = ax.bbox.width / ax.get_figure(root=True).dpi  # inches, as laid out
        size = title.get_fontsize()
        while typeset.width(text, size) > room and size > MIN_FONT:
            size = max(MIN_FONT, size - 0.5)
        title.set_fontsize(size)
        while typeset.width(text, size) > room and len(text) > 4:
            text = text[:-2] + "…"
        title.set_text(text)
        # as drawn: glyphs hinted to whole pixels at a small size come out wider than their measure
        while title.get_window_extent(renderer).width > ax.bbox.width and len(text) > 4:
            text = text[:-2] + "…"
            title.set_text(text)
