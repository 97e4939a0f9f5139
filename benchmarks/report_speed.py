"""Time `energybench report --format html,pdf` of this tree against a recorded baseline commit,
in one run, and check that both write the same reports.

The baseline is the tree of --baseline-commit (default 0403048, the code before the report
was made faster) written by `git archive` into a temporary directory; each timed report is the
console command in a fresh process (`python -m energybench` with that tree first on the path,
as a user would run it, start-up and imports included). Old and new alternate, --repeat times
each, so both see the same machine load; the medians and their ratio new/old are printed, with
the load average (on a machine shared with other jobs the wall time also measures them).

The run directory is --run (e.g. one written by `energybench run`), or, by default, one written
by tests/report/rundir_factory.py: 3 methods x 7 sharing levels x 3 seeds x 3 phases, confusion
matrices and an hour-long 10 Hz power trace of two sensors.

Sameness: the HTML files are compared byte for byte, the PDFs by their text (pdftotext, where
installed) and byte for byte; a PDF may differ in bytes only where matplotlib's or pypdf's
metadata does, which the output says.
Usage: python benchmarks/report_speed.py [--baseline-commit REV] [--run DIR] [--repeat N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.5  # issue: at most half of the baseline's time


def load_factory():
    spec = importlib.util.spec_from_file_location("rundir_factory", ROOT / "tests" / "report" / "rundir_factory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkout(commit: str, where: Path) -> str:
    """The tree of `commit` written into `where`; returns the commit's full hash."""
    full = subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True,
                          text=True)
    if full.returncode != 0:
        sys.exit(f"report_speed: --baseline-commit '{commit}' is not a commit of {ROOT} (e.g. 0403048)")
    archive = subprocess.run(["git", "archive", "--format=tar", full.stdout.strip(), "energybench"], cwd=ROOT,
                             capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return full.stdout.strip()


def report(tree: Path, run: Path, out: Path, env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of `energybench report RUN --format html,pdf --out OUT` with `tree`'s
    code; the CPU time is that of every process it ran (a forked drawing process included)."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "energybench", "report", str(run), "--format", "html,pdf",
                           "--out", str(out)], capture_output=True, text=True, cwd=tree,
                          env={**env, "PYTHONPATH": str(tree)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"report_speed: the report of {tree} failed:\n{done.stderr}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def pdf_text(path: Path) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def sameness(old: Path, new: Path) -> tuple[bool, str]:
    html_same = (old / "report.html").read_bytes() == (new / "report.html").read_bytes()
    pdf_bytes_same = (old / "report.pdf").read_bytes() == (new / "report.pdf").read_bytes()
    text_old, text_new = pdf_text(old / "report.pdf"), pdf_text(new / "report.pdf")
    text = ("not compared (no pdftotext)" if text_old is None else
            "identical" if text_old == text_new else "DIFFERENT")
    words = (f"HTML {'identical' if html_same else 'DIFFERENT'}; PDF text {text}; PDF bytes "
             f"{'identical' if pdf_bytes_same else 'differ (metadata or drawing: compare the pages)'}")
    return html_same and text != "DIFFERENT", words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-commit", default="0403048", help="the commit timed as the old path")
    parser.add_argument("--run", type=Path, help="an existing run directory (default: a generated 7-level sweep)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the generated run directory and the reports here")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    tmp = tempfile.TemporaryDirectory(prefix="eb-report-speed-")
    work = args.keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    if args.run is not None:
        run, what = args.run.resolve(), f"run {args.run}"
    else:
        run, what = work / "sweep-7x3", "generated sweep (3 methods x 7 sharing levels x 3 seeds)"
        shutil.rmtree(run, ignore_errors=True)
        load_factory().sweep(run, seeds=(0, 1, 2), power=True, trace_points=36_000)
    old_tree = Path(tempfile.mkdtemp(prefix="baseline-", dir=work))
    commit = checkout(args.baseline_commit, old_tree)
    trees = {"old": old_tree, "new": ROOT}
    walls: dict[str, list[float]] = {"old": [], "new": []}
    cpus: dict[str, list[float]] = {"old": [], "new": []}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        for name, tree in trees.items():
            wall, cpu = report(tree, run, work / f"report-{name}", env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    load = os.getloadavg()[0]
    same, words = sameness(work / "report-old", work / "report-new")
    old, new = statistics.median(walls["old"]), statistics.median(walls["new"])
    ratio = new / old
    cpu_old, cpu_new = statistics.median(cpus["old"]), statistics.median(cpus["new"])
    runs = ", ".join(f"{w:.2f}" for w in walls["old"]), ", ".join(f"{w:.2f}" for w in walls["new"])
    print(f"energybench report --format html,pdf of the {what}:")
    print(f"  old (baseline commit {commit[:10]}, from git archive): {old:.2f} s (median of {runs[0]}), "
          f"{cpu_old:.2f} s CPU")
    print(f"  new (this tree {ROOT}): {new:.2f} s (median of {runs[1]}), {cpu_new:.2f} s CPU")
    print(f"  ratio new/old {ratio:.2f} wall, {cpu_new / cpu_old:.2f} CPU "
          f"(target <= {TARGET_RATIO} wall: {'ok' if ratio <= TARGET_RATIO else 'OVER'}); "
          f"load average {load_before:.1f} before, {load:.1f} after, on {os.cpu_count()} CPUs")
    print(f"  outputs: {words}")
    if args.keep is None:
        tmp.cleanup()
    else:
        shutil.rmtree(old_tree)
    return 0 if same and ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
