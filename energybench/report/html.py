"""The HTML report: one self-contained file, figures as inline SVG, no external requests."""

from __future__ import annotations

import io
import re
from pathlib import Path

import jinja2
from markupsafe import Markup
from matplotlib.transforms import Bbox

import energybench
from energybench.report.canvas import FigureResult
from energybench.report.document import Bullets, Document, FigureBlock, KeyValues, Paragraph, Table

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


def figure_svg(result: FigureResult) -> str:
    """The SVG of a drawn figure. A figure drawn into a SubFigure of a PDF page is saved alone:
    the page's other artists are hidden and the page cropped to the figure."""
    fig = result.figure
    root = fig.get_figure(root=True)
    buf = io.StringIO()
    if fig is root:
        root.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        return buf.getvalue()
    others = [a for a in root.get_children() if a is not fig and a is not root.patch and a.get_visible()]
    for a in others:
        a.set_visible(False)
    try:
        x0, y0, w, h = fig.bbox.bounds
        dpi = root.dpi
        root.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                     bbox_inches=Bbox.from_bounds(x0 / dpi, y0 / dpi, w / dpi, h / dpi))
    finally:
        for a in others:
            a.set_visible(True)
    return buf.getvalue()


def inline_svg(result: FigureResult, index: int) -> str:
    """The figure as an <svg> element fit for inlining into HTML.

    Drops the XML prolog, DOCTYPE, RDF metadata and namespace declarations (an HTML parser
    puts <svg> in the SVG namespace by itself; they only carry w3.org/purl URLs), and
    prefixes every element id so that ids stay unique across the report's figures."""
    text = figure_svg(result)
    text = text[text.index("<svg"):]
    text = _METADATA.sub("", text)
    text = compact_svg(_NAMESPACE.sub("", text))
    prefix = f"f{index}-"
    text = _ID_REF.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    title = re.sub(r"[<>&\"]", "", result.title)
    return text.replace("<svg ", f'<svg role="img" aria-label="{title}" class="figure" ', 1)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.tests.update(paragraph=lambda b: isinstance(b, Paragraph), bullets=lambda b: isinstance(b, Bullets),
                     table=lambda b: isinstance(b, Table), keyvalues=lambda b: isinstance(b, KeyValues),
                     figure=lambda b: isinstance(b, FigureBlock))
    return env


def render_html(doc: Document, svgs: dict[str, str]) -> str:
    """The document as HTML text, with each drawn figure's inline SVG (inline_svg) by figure id."""
    template = _environment().get_template("report.html.j2")
    return template.render(doc=doc, version=energybench.__version__, svgs={k: Markup(v) for k, v in svgs.items()})
