"""`energybench report` and build_reports(): where reports go, how they are written, and
clear errors for bad input."""

from __future__ import annotations

import stat

import pytest
from rundir_factory import single_run

from energybench.cli import main
from energybench.errors import UserError
from energybench.report import build_reports, parse_formats


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_writes_into_the_run_directory_by_default(tmp_path, capsys):
    root = single_run(tmp_path / "r")
    code, out, err = run(capsys, "report", str(root))
    assert code == 0, err
    assert out.splitlines() == [f"report: {root / 'report.html'}", f"report: {root / 'report.pdf'}"]
    for name in ("report.html", "report.pdf"):
        mode = (root / name).stat().st_mode
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH  # readable like any written file
    assert not list(root.glob(".report*"))  # no temporary file left behind


def test_format_and_out(tmp_path, capsys):
    root = single_run(tmp_path / "r")
    out_dir = tmp_path / "elsewhere" / "new"
    code, out, err = run(capsys, "report", str(root), "--report-format", "html", "--out", str(out_dir))
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.html"]
    assert not (root / "report.html").exists() and not (root / "report.pdf").exists()


def test_build_reports_returns_paths_in_the_order_asked(tmp_path):
    root = single_run(tmp_path / "r")
    paths = build_reports(root, formats="pdf,html", out_dir=tmp_path / "o")
    assert [p.name for p in paths] == ["report.pdf", "report.html"]


def test_a_rebuilt_report_is_identical(tmp_path):
    root = single_run(tmp_path / "r")
    [a] = build_reports(root, formats=("html",), out_dir=tmp_path / "a")
    [b] = build_reports(root, formats=("html",), out_dir=tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()  # fixed SVG ids: a committed report only changes with its data


def test_parse_formats():
    assert parse_formats("html, PDF") == ["html", "pdf"]
    assert parse_formats(["pdf", "pdf"]) == ["pdf"]
    with pytest.raises(UserError, match="unknown report format 'svg'; valid formats: html, pdf"):
        parse_formats("html,svg")
    with pytest.raises(UserError, match="no report format given"):
        parse_formats(" , ")


@pytest.mark.parametrize("argv,msg", [
    (["report", "{tmp}/nope"], "nope does not exist"),
    (["report", "{tmp}"], "is not a run directory: it has no metrics.csv"),
    (["report", "{tmp}/file.txt"], "is not a directory"),
    (["report", "{run}", "--report-format", "svg"], "unknown report format 'svg'; valid formats: html, pdf"),
    (["report", "{run}", "--out", "{tmp}/file.txt"], "is a file; give a directory"),
    # figure options are checked with or without --figures, and apply only to its files
    (["report", "{run}", "--figure-width", "13"], "figure width '13' is not single, double or a width in inches"),
    (["report", "{run}", "--figure-format", "tiff"], "tiff"),
    (["report", "{run}", "--figure-width", "single", "--figure-format", "png"],
     "--figure-format and --figure-width shape the files --figures writes; give --figures DIR too"),
    # an empty value is refused as --report-format "" is, not taken for the default
    (["report", "{run}", "--figures", "{tmp}/f", "--figure-format", ""], "no figure format given; valid formats: "
                                                                        "pdf, svg, png"),
    (["report", "{run}", "--figures", "{tmp}/f", "--figure-width", ""], "figure width '' is not single, double or a "
                                                                       "width in inches from 2 to 12"),
])
def test_bad_input_gives_a_clear_error(tmp_path, capsys, argv, msg):
    (tmp_path / "file.txt").write_text("x")
    root = single_run(tmp_path / "runs" / "r")
    argv = [a.format(tmp=tmp_path, run=root) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("energybench report: error: ") and msg in err
    assert "Traceback" not in err
    assert not (root / "report.html").exists() and not (tmp_path / "f").exists()


def test_folder_of_runs_is_refused_with_their_names(tmp_path, capsys):
    single_run(tmp_path / "a")
    single_run(tmp_path / "b")
    code, _, err = run(capsys, "report", str(tmp_path))
    assert code == 2 and "is a folder of run directories" in err and str(tmp_path / "b") in err


def test_report_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for needle in ("RUN_OR_SWEEP_DIR", "--report-format", "--out", "self-contained", "Pareto"):
        assert needle in out
