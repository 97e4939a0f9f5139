"""`energybench report DIR --figures OUT`: one file per figure and format, at the width asked,
vector where the format allows, fonts sized for the width, captions alongside; bad options
refused before anything is written."""

from __future__ import annotations

import re

import pytest
from rundir_factory import make_run_dir
from test_pdf import font_sizes

from energybench.cli import main

DRAWN = ["accuracy-vs-sharing", "compute-energy", "memory-access", "training-time", "storage", "phase-accuracy",
         "energy-breakdown", "energy-by-level", "accuracy-vs-energy", "confusion"]  # no power measured in this run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("runs") / "s", methods=("finetune", "sharing"),
                        sharing=(0.0, 0.4, 0.8), seeds=(0, 1))


def export(capsys, run_dir, out, *flags):
    code = main(["report", str(run_dir), "--figures", str(out), *flags])
    res = capsys.readouterr()
    return code, res.out, res.err


def test_one_file_per_figure_and_format_at_a_columns_width(run_dir, tmp_path, capsys):
    from PIL import Image
    from pypdf import PdfReader

    out = tmp_path / "figs"
    code, stdout, err = export(capsys, run_dir, out, "--figure-format", "pdf,svg,png", "--figure-width", "single")
    assert code == 0, err
    expected = sorted([f"{fid}.{fmt}" for fid in DRAWN for fmt in ("pdf", "svg", "png")] + ["captions.md"])
    assert sorted(p.name for p in out.iterdir()) == expected
    assert not (run_dir / "report.html").exists()  # --figures alone writes only the figures
    assert stdout.count("figure: ") == len(DRAWN) * 3
    for fid in DRAWN:
        pdf = PdfReader(out / f"{fid}.pdf")
        assert len(pdf.pages) == 1
        page = pdf.pages[0]
        assert float(page.mediabox.width) == pytest.approx(3.3 * 72, abs=0.01)  # 3.3 in
        # vector: no raster image inside, except the confusion matrices' colours
        assert (len(page.images) > 0) == (fid == "confusion"), fid
        assert min(font_sizes(out / f"{fid}.pdf"))[0] >= 7.0 - 1e-6, fid
        svg = (out / f"{fid}.svg").read_text()
        assert re.search(r'<svg[^>]* width="237\.6pt"', svg), fid
        assert ("<image" in svg) == (fid == "confusion"), fid
        with Image.open(out / f"{fid}.png") as im:
            assert im.size[0] == 990 and im.info["dpi"][0] == pytest.approx(300, abs=0.01)  # 3.3 in at 300 dpi
    captions = (out / "captions.md").read_text()
    assert "## compute-energy: Computation energy vs sharing" in captions
    assert "Modelled: energy = counted operations" in captions and "## power-trace: Measured power (not drawn)" in \
        captions


@pytest.mark.parametrize("width,points", [("double", 504.0), ("4.5", 324.0)])
def test_double_and_custom_widths(run_dir, tmp_path, capsys, width, points):
    from pypdf import PdfReader

    out = tmp_path / "figs"
    code, _, err = export(capsys, run_dir, out, "--figure-width", width)
    assert code == 0, err
    assert sorted(p.suffix for p in out.iterdir()) == [".md"] + [".pdf"] * len(DRAWN)  # the default: PDF
    widths = {round(float(PdfReader(p).pages[0].mediabox.width), 2) for p in out.glob("*.pdf")}
    assert widths == {points}


def test_figures_and_reports_together(run_dir, tmp_path, capsys):
    code, out, err = export(capsys, run_dir, tmp_path / "figs", "--report-format", "html",
                            "--out", str(tmp_path / "rep"))
    assert code == 0, err
    assert (tmp_path / "rep" / "report.html").is_file() and (tmp_path / "figs" / "storage.pdf").is_file()


@pytest.mark.parametrize("flags,msg", [
    (["--figure-width", "wide"], "figure width 'wide' is not single, double or a width in inches from 2 to 12"),
    (["--figure-width", "30"], "figure width '30' is not single, double"),
    (["--figure-format", "pdf,jpg"], "unknown figure format 'jpg' (did you mean 'png'?); valid formats: pdf, svg, png"),
    (["--page-size", "a3"], "unknown page size 'a3'; valid page sizes: letter, a4"),
])
def test_bad_options_are_refused_before_anything_is_written(run_dir, tmp_path, capsys, flags, msg):
    out = tmp_path / "figs"
    code, _, err = export(capsys, run_dir, out, *flags)
    assert code == 2 and err.startswith("energybench report: error: ") and msg in err, err
    assert "Traceback" not in err and not out.exists()
