"""Every figure of a run's report as its own file, for a paper or slides: drawn once at the
width asked (a column, the full text width, or any width), with fonts sized for that width,
and saved to each format: PDF and SVG as vector (only the confusion matrices hold a raster
image), PNG at 300 dpi. Each file carries its title, caption and provenance in its metadata,
and captions.md lists them to paste under the figures.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import energybench
from energybench.files import write_output
import energybench.report.expansion_plots as expansion_plots
import energybench.report.protocol_plots as protocol_plots
from energybench.report.canvas import failure_note, standalone
from energybench.report.plots import build_figures, described
from energybench.report.rundir import RunData
from energybench.report.style import drawing, method_looks, size_for
from energybench.report.typeset import readable_figure

PNG_DPI = 300


def _metadata(fmt: str, title: str, description: str) -> dict:
    creator = f"energybench {energybench.__version__}"
    if fmt == "pdf":
        return {"Title": title, "Subject": description, "Creator": creator, "CreationDate": None}
    if fmt == "svg":
        return {"Title": title, "Description": description, "Creator": creator, "Date": None}
    return {"Title": title, "Description": description, "Software": creator}


def write_figures(run: RunData, out: Path, formats: list[str], width: float) -> list[Path]:
    size = size_for(width)
    written: list[Path] = []
    captions = [f"# Figures of {run.run_id}", "",
                f"Width {width:g} in, fonts {size.font:g} pt (ticks and legends {size.small:g} pt).", ""]
    with drawing(size):
        looks = method_looks(run.methods)
        extra = (*expansion_plots.figures(run), *protocol_plots.figures())  # in the report's order
        for result in [*build_figures(run), *(described(fid, fn, run, looks) for fid, fn in extra)]:
            if result.omitted:
                captions += [f"## {result.id}: {result.title} (not drawn)", "", result.note or "", ""]
                continue
            try:
                fig = standalone(result, size)
            except Exception as exc:  # noqa: BLE001 (one figure that fails: the others are still written)
                note = failure_note(result, exc)
                warnings.warn(note, stacklevel=2)
                captions += [f"## {result.id}: {result.title} (not drawn)", "", note, ""]
                continue
            readable_figure(fig)
            description = f"{result.caption} {result.provenance}"
            for fmt in formats:
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=PNG_DPI if fmt == "png" else None,
                            metadata=_metadata(fmt, result.title, description))
                written.append(write_output(out / f"{result.id}.{fmt}", buf.getvalue()))
            captions += [f"## {result.id}: {result.title}", "", result.caption, "", result.provenance, ""]
    write_output(out / "captions.md", "\n".join(captions))
    return written


