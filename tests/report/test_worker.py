"""The reports at the end of a run, drawn by the report process started with it (report/worker.py):
the same files as drawn in the run's own process, drawn there anyway when that process is dead,
and no process left behind when the run stops it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time

import pytest
from pypdf import PdfReader
from rundir_factory import make_run_dir

from energybench.report import build_reports
from energybench.report.worker import ReportWorker

FORMATS = ["html", "pdf"]


def run_dir(root):
    return make_run_dir(root, methods=("finetune", "sharing"), sharing=(0.0, 0.5))


def written(root, before: set[str]) -> dict[str, object]:
    """The files the reports added to a run directory: HTML and CSV text with any time of day masked (none
    today), PDF page texts."""
    files = {}
    for path in sorted(p for p in root.iterdir() if p.name not in before):
        if path.suffix == ".pdf":
            files[path.name] = [page.extract_text() for page in PdfReader(path).pages]
        else:
            files[path.name] = re.sub(r"\d\d:\d\d:\d\d(\.\d+)?", "HH:MM:SS", path.read_text())
        path.unlink()
    return files


def in_process(root, before: set[str]) -> dict[str, object]:
    """The same reports written again into the same directory by this process (the path is in the report)."""
    assert [p.name for p in build_reports(root, formats=FORMATS)] == ["report.html", "report.pdf"]
    return written(root, before)


def test_the_report_process_writes_the_same_reports_as_the_run_itself(tmp_path, recwarn):
    root = run_dir(tmp_path / "there")
    before = {p.name for p in root.iterdir()}
    worker = ReportWorker().start()
    proc = worker.proc
    try:
        paths = worker.build(root, FORMATS)
    finally:
        worker.close()
    assert proc.returncode == 0  # it left by itself once its input ended (os._exit), not stopped
    assert paths == [root / "report.html", root / "report.pdf"]
    assert not [w for w in recwarn if "report process failed" in str(w.message)]
    there = written(root, before)
    assert {"report.html", "report.pdf"} <= set(there)
    assert there == in_process(root, before)
    assert worker.proc is None


def test_a_dead_report_process_leaves_the_reports_to_the_run(tmp_path):
    root = run_dir(tmp_path / "there")
    before = {p.name for p in root.iterdir()}
    worker = ReportWorker().start()
    worker.proc.kill()
    worker.proc.wait()
    try:
        with pytest.warns(UserWarning, match=r"the report process failed \(.*\); writing the reports in this process"):
            paths = worker.build(root, FORMATS)
    finally:
        worker.close()
    assert paths == [root / "report.html", root / "report.pdf"]
    assert written(root, before) == in_process(root, before)


def test_a_report_process_that_cannot_start_leaves_the_reports_to_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python"))
    root = run_dir(tmp_path / "there")
    worker = ReportWorker().start()
    with pytest.warns(UserWarning, match="report process failed .could not start it"):
        [html] = worker.build(root, ["html"])
    worker.close()
    assert html == root / "report.html" and html.is_file()


def test_a_run_stopped_while_the_report_process_warms_up_leaves_no_process(tmp_path):
    worker = ReportWorker().start()
    pid = worker.proc.pid
    time.sleep(0.3)  # inside its imports
    started = time.monotonic()
    worker.close()
    assert time.monotonic() - started < 5  # stopped, not waited for until it has warmed up
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone (and reaped)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, signal.SIGCONT)  # nothing of its group either


def test_a_user_error_in_the_report_process_is_the_runs_user_error(tmp_path):
    from energybench.errors import UserError

    root = run_dir(tmp_path / "there")
    shutil.rmtree(root / "cells", ignore_errors=True)
    (root / "metrics.csv").write_text("not,a,metrics,file\n")
    with pytest.raises(UserError) as here:
        build_reports(root, formats=FORMATS)
    worker = ReportWorker().start()
    try:
        with pytest.raises(UserError) as there:
            worker.build(root, FORMATS)
    finally:
        worker.close()
    assert str(there.value) == str(here.value)
