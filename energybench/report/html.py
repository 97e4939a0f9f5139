"""The HTML report: one self-contained file, figures as inline SVG, no external requests."""

from __future__ import annotations

import io
import re
from pathlib import Path

import jinja2
from markupsafe import Markup

import energybench
from energybench.report.plots import FigureResult
from energybench.report.rundir import RunData
from energybench.report.tables import calibration_table, class_orders, metadata, optimal_points, summary_tables

TEMPLATES = Path(__file__).parent / "templates"

_ID_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_REF = re.compile(r'(?:url\(#|href="#)([^")]+)')
_ID = re.compile(r'\s\bid="([^"]+)"')
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ATTR = re.compile(r'="[^"]*"')
_LONG_DECIMAL = re.compile(r"(\d\.\d{2})\d+")
_NO_ROTATION = re.compile(r'\s+transform="rotate\(-?0 [^)]*\)"')
_INDENT = re.compile(r"\n\s+")


def compact_svg(text: str) -> str:
    """Smaller SVG that draws the same: no ids nothing refers to, coordinates in attributes to
    0.01 pt (text content untouched), no zero rotations, no indentation."""
    used = set(_REF.findall(text))
    text = _ID.sub(lambda m: m.group(0) if m.group(1) in used else "", text)
    text = _NO_ROTATION.sub("", text)
    text = _ATTR.sub(lambda m: _LONG_DECIMAL.sub(r"\1", m.group(0)) if "base64" not in m.group(0) else m.group(0),
                     text)
    return _INDENT.sub("\n", text)


def inline_svg(result: FigureResult, index: int) -> str:
    """The figure as an <svg> element fit for inlining into HTML.

    Drops the XML prolog, DOCTYPE, RDF metadata and namespace declarations (an HTML parser
    puts <svg> in the SVG namespace by itself; they only carry w3.org/purl URLs), and
    prefixes every element id so that ids stay unique across the report's figures."""
    fig = result.figure
    buf = io.StringIO()
    chrome = getattr(fig, "eb_chrome", ())  # title and provenance: the HTML has them as text
    for artist in chrome:
        artist.set_visible(False)
    try:
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches=getattr(fig, "eb_body", None))
    finally:
        for artist in chrome:
            artist.set_visible(True)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = _METADATA.sub("", text)
    text = compact_svg(_NAMESPACE.sub("", text))
    prefix = f"f{index}-"
    text = _ID_REF.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    title = re.sub(r"[<>&\"]", "", result.title)
    return text.replace("<svg ", f'<svg role="img" aria-label="{title}" class="figure" ', 1)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(run: RunData, figures: list[FigureResult]) -> str:
    """The report as HTML text. Call under plots.style() (the SVG settings apply when saving)."""
    svgs = {f.id: Markup(inline_svg(f, k)) for k, f in enumerate(figures) if f.figure is not None}
    template = _environment().get_template("report.html.j2")
    return template.render(
        run=run,
        version=energybench.__version__,
        figures=figures,
        svgs=svgs,
        tables=summary_tables(run),
        figure_tables={"modelled-vs-measured": calibration_table(run)},  # shown below their figure
        optimal=optimal_points(run),
        metadata=metadata(run),
        class_orders=class_orders(run),
        config_text=_config_text(run),
        levels=", ".join(f"{s:g}" for s in run.all_levels()),
        dataset=run.manifest.get("dataset") or run.config.get("dataset") or "unknown dataset",
        scenario=_scenario(run),
    )


def _scenario(run: RunData) -> str:
    sizes = run.manifest.get("scenario")
    if isinstance(sizes, list) and sizes:
        return f"{sizes[0]} base classes + {', '.join(map(str, sizes[1:])) or 'no'} new per phase"
    return str(run.config.get("scenario") or "unknown")


def _config_text(run: RunData) -> str:
    import yaml

    return yaml.safe_dump(run.config, sort_keys=False) if run.config else "(no config.yaml)"
