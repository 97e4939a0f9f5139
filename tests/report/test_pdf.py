"""The typeset PDF report: page size, filled pages, no text under 7 pt, proportional TrueType
fonts, a contents page whose links and outline reach the right pages, tables that continue
with their header, and the metadata as a (key, value) table. Page fill is measured on the
rendered pages (poppler's pdftoppm), font sizes from the text operators (pypdf)."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool  # tests/conftest.py
from report_fixtures import built_reports  # noqa: F401 (the `built` fixture)

from energybench.report import build_reports


def page_count(path: Path) -> int:
    from pypdf import PdfReader

    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    return len(PdfReader(path).pages)


def font_sizes(path: Path) -> list[tuple[float, int, str]]:
    """(size in points at print size, page index, text) of every piece of text: the Tf size
    scaled by the text and current transformation matrices."""
    from pypdf import PdfReader

    out = []
    for k, page in enumerate(PdfReader(path).pages):
        def visit(text, cm, tm, font, size, k=k):
            if not text.strip():
                return
            a, b, c, d = tm[:4]
            A, B, C, D = cm[:4]
            out.append((size * math.hypot(c * A + d * C, c * B + d * D), k, text))

        page.extract_text(visitor_text=visit)
    return out


def page_fill(path: Path, tmp: Path) -> list[float]:
    """Per page: the height spanned by content (first to last row with ink, the running head and
    page number left out) as a share of the page's height."""
    from PIL import Image

    require_tool("pdftoppm")
    dpi = 30
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(path), str(tmp / "p")], check=True)
    fills = []
    for png in sorted(tmp.glob("p-*.png")):
        with Image.open(png) as im:
            im = im.convert("L")
            w, h = im.size
            px = im.load()
            band = int(0.62 * dpi)  # the running head and the page number sit in the 0.75 in margins
            rows = [y for y in range(band, h - band) if any(px[x, y] < 200 for x in range(0, w, 1))]
        fills.append((rows[-1] - rows[0] + 1) / h if rows else 0.0)
    return fills


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """The Fashion-MNIST sharing sweep's report (reports/example), built afresh."""
    import shutil

    root = tmp_path_factory.mktemp("fashion") / "fm"
    shutil.copytree(Path(__file__).resolve().parents[2] / "reports" / "example", root)
    for old in root.glob("report.*"):
        old.unlink()
    [pdf] = build_reports(root, formats="pdf")
    return pdf


def test_pages_are_letter_by_default_and_a4_on_request(built, tmp_path):
    from pypdf import PdfReader
    from rundir_factory import single_run

    pages = PdfReader(built("sweep_power", "pdf")).pages
    assert {(float(p.mediabox.width), float(p.mediabox.height)) for p in pages} == {(612.0, 792.0)}
    [a4] = build_reports(single_run(tmp_path / "r"), formats="pdf", page_size="a4")
    sizes = {(round(float(p.mediabox.width), 1), round(float(p.mediabox.height), 1)) for p in PdfReader(a4).pages}
    assert sizes == {(595.4, 841.7)}  # 8.27 x 11.69 in


def test_the_fashion_mnist_reports_pages_are_filled(fashion, tmp_path):
    fills = page_fill(fashion, tmp_path)
    assert len(fills) == page_count(fashion) >= 6
    short = [(k + 1, round(f, 2)) for k, f in enumerate(fills[:-1]) if f < 0.6]
    assert not short, f"pages under 60% full: {short}"


def test_a_three_method_sweeps_pages_are_filled(built, tmp_path):
    fills = page_fill(built("sweep_power", "pdf"), tmp_path)
    short = [(k + 1, round(f, 2)) for k, f in enumerate(fills[:-1]) if f < 0.6]
    assert not short, f"pages under 60% full: {short}"


@pytest.mark.parametrize("which", ["fashion", "sweep_power", "single"])
def test_no_text_is_smaller_than_7_points(which, fashion, built):
    path = fashion if which == "fashion" else built(which, "pdf")
    sizes = font_sizes(path)
    assert len(sizes) > 300  # tables, captions and every tick label are text, not paths
    smallest = min(sizes)
    assert smallest[0] >= 7.0 - 1e-6, smallest


def test_fonts_are_proportional_truetype(built):
    from pypdf import PdfReader

    fonts = set()
    for page in PdfReader(built("sweep_power", "pdf")).pages:
        for f in page["/Resources"]["/Font"].values():
            f = f.get_object()
            fonts.add((str(f["/Subtype"]), re.sub(r"^/?[A-Z]{6}\+", "", str(f["/BaseFont"]))))
    # TrueType (Type 0 / CID) embedded, no Type 3 bitmaps; DejaVu Sans and its bold; no monospace
    assert fonts == {("/Type0", "DejaVuSans"), ("/Type0", "DejaVuSans-Bold")}


def test_contents_links_and_outline_reach_their_pages(built):
    from pypdf import PdfReader

    reader = PdfReader(built("sweep_power", "pdf"))
    index = {p.indirect_reference.idnum: k for k, p in enumerate(reader.pages)}
    links = [a.get_object() for a in reader.pages[0]["/Annots"]]
    assert len(links) == 5 + 16  # five sections, sixteen figures (drawn or not)
    text = [p.extract_text() for p in reader.pages]
    front = text[0]
    targets = []
    for link in links:
        assert link["/Subtype"] == "/Link"
        targets.append(index[link["/Dest"][0].idnum])
    # the figures' entries in order: each links to the page that has that figure's caption
    # the first group: Figures 1-12, and after Figure 8 the energy-vs-latency entry, not drawn (the
    # layer_buffer architecture has no PE array, so no modelled latency)
    first_group = targets[2:15]
    figure_pages = first_group[:8] + first_group[9:]
    for n, page in enumerate(figure_pages, start=1):
        assert re.search(rf"^Figure {n}: ", text[page], re.M), (n, page)
        assert re.search(rf"Figure {n}: .*\s{page + 1}$", front, re.M), n  # and the contents print that page
    assert figure_pages == sorted(figure_pages)
    outline = [o.title for o in reader.outline if not isinstance(o, list)]
    assert outline == ["Overview and optimal sharing", "Figures", "Continual-learning metrics and CO2e",
                       "Summary tables", "Run metadata"]
    assert reader.metadata.title == "energybench report: sweep_power"


def test_the_modelled_vs_measured_table_follows_the_summary_tables(built):
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(built("sweep_power", "pdf")).pages)
    summary = text.split("\nSummary tables\n", 1)[1]  # the section (its contents entry has a page number)
    # after the last method's table, before the metadata: its header, then lucir's rows by hand (test_html)
    table = re.split(r"Highlighted:\sthe\soptimal\ssharing\spoint\.\nModelled vs measured savings\n", summary, 1)[1]
    table = table.split("\nRun metadata\n", 1)[0]
    assert re.search(r"modelled\s+saving\s+\(×\)", table) and re.search(r"measured\s+saving\s+\(×\)", table)
    assert re.search(r"^lucir 0 949 2\.00 1\.000 1\.000$", table, re.M)
    assert re.search(r"^lucir 40 740 1\.87 1\.283 1\.071$", table, re.M)
    assert "J measured per modelled J" in table


def test_metadata_is_a_key_value_table(built):
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(built("sweep_power", "pdf")).pages[-3:])
    assert re.search(r"^git commit 0123456789abcdef0123456789abcdef01234567$", text, re.M)
    assert re.search(r"^device name x86_64 CPU, 1 thread$", text, re.M)
    assert re.search(r"^seed 1 ", text, re.M)  # class order, one row per seed
    assert re.search(r"^epochs 8$", text, re.M)  # config.yaml, one row per key


def test_a_long_table_continues_on_the_next_page_with_its_header(tmp_path):
    from pypdf import PdfReader
    from rundir_factory import make_run_dir

    levels = tuple(round(0.02 * k, 2) for k in range(48))
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=levels, confusion=False)
    [pdf] = build_reports(root, formats="pdf")
    pages = [p.extract_text() for p in PdfReader(pdf).pages]
    row = re.compile(r"^(\d+) \d+\.\d \d+\.\d\d ", re.M)  # sharing, achieved, final accuracy, ...
    on = [k for k, t in enumerate(pages) if row.search(t)]
    assert len(on) >= 2, "48 levels take more than one page"
    for k in on:  # every page of the table starts with its header
        assert re.search(r"final\s+acc\.", pages[k]), k
    assert sorted(int(m) for k in on for m in row.findall(pages[k])) == [2 * k for k in range(48)]  # no row lost


def test_the_report_is_the_same_drawn_in_one_process_or_two(tmp_path, monkeypatch):
    import sys

    from rundir_factory import make_run_dir

    from energybench.report import fork
    from energybench.report.rundir import load_run
    from energybench.report.sections import run_document

    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.5))
    # the command in its own process (no torch, one thread): its first pages drawn by a forked child
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "energybench", "report", str(root), "--report-format", "pdf,html", "--out",
                    str(tmp_path / "a")], check=True, cwd=repo, capture_output=True)
    monkeypatch.setattr(fork, "can_fork", lambda: False)  # as at the end of a run, where torch's threads live
    [pdf, html] = build_reports(root, formats="pdf,html", out_dir=tmp_path / "b")
    assert (tmp_path / "a" / "report.pdf").read_bytes() == pdf.read_bytes()
    assert (tmp_path / "a" / "report.html").read_text() == html.read_text()
    drawn = [f for f in run_document(load_run(root)).figures() if not f.omitted]
    assert len(drawn) >= 5 and html.read_text().count('<svg role="img"') == len(drawn)  # in either part
