"""The PDF report opens and has one page per part: overview, one summary table per method,
each drawn figure, metadata."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fixtures import built  # noqa: F401 (fixture)


def page_count(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    try:
        from pypdf import PdfReader
    except ImportError:  # matplotlib writes page objects uncompressed
        return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))
    return len(PdfReader(path).pages)


# overview 1 + one table page per method (+ the modelled-vs-measured table) + drawn figures + metadata 1
EXPECTED = {
    "single": 1 + 1 + 4 + 1,  # drawn: phase accuracy, breakdown, energy by level, confusion
    "single_power": 1 + (1 + 1) + 6 + 1,  # + power trace, modelled vs measured
    "sweep": 1 + 2 + 10 + 1,  # every figure but the power trace and modelled vs measured
    "sweep_power": 1 + (3 + 1) + 12 + 1,
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_pdf_opens_with_the_expected_pages(built, kind):
    path = built(kind, "pdf")
    assert page_count(path) == EXPECTED[kind]


def test_pdf_page_count_matches_pdfinfo_when_installed(built):
    import shutil
    import subprocess

    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) not installed")
    path = built("sweep_power", "pdf")
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+(\d+)$", out, re.M).group(1) == str(EXPECTED["sweep_power"])
    assert "energybench report: sweep_power" in out


def test_long_tables_and_metadata_continue_on_more_pages(tmp_path, monkeypatch):
    from rundir_factory import make_run_dir

    from energybench.report import build_reports, pdf
    from energybench.report.rundir import load_run

    monkeypatch.setattr(pdf, "TABLE_ROWS", 3)
    monkeypatch.setattr(pdf, "LINES_PER_PAGE", 30)
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.2, 0.5, 0.8), seeds=(0,),
                        confusion=False)
    n_meta = len(pdf.metadata_lines(load_run(root)))
    assert 30 < n_meta <= 60  # so the metadata takes two pages of 30 lines
    [path] = build_reports(root, formats="pdf")
    # overview 1 (24 lines) + table 2 (4 levels, 3 rows a page) + drawn figures 9 (the five sharing
    # figures, phase accuracy, breakdown, energy by level, accuracy vs energy; no power, no confusion) + metadata 2
    assert page_count(path) == 1 + 2 + 9 + 2
