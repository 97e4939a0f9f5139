"""The reports at the end of `energybench run`, drawn by a report process started with the run.

A run trains with PyTorch's threads live, so render() may not fork a second drawer there
(fork.py), and it would pay matplotlib's and the report code's imports only once the cells are
done: the reports took a single core for as long as the standalone command took two. This
process is a fresh interpreter (`python -m`, never a fork of the run: torch's thread pools do not
survive one) started before the cells: it imports and warms matplotlib while they train (one
thread on the small backbones, so the second core is free), then is handed the finished run
directory and builds the reports with fork.py's second drawer, as `energybench report` does.
Anything it fails to deliver is built in the run's own process, with a warning, so the reports
never depend on it.

Protocol: one JSON request line on its stdin ({"run_dir", "formats"}), one JSON reply line on its
stdout ({"paths", "warnings"} or {"user_error"}); end of stdin tells it to leave.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

# How long close() waits for the process to leave after asking; then it is killed.
LEAVE_TIMEOUT_S = 10.0


class ReportWorker:
    """The run's side: start() before the cells, build() after them, close() always."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.stderr = None
        self.failed = "it was not started"
        self.idle = False  # whether it is waiting for a request after answering one: it may just be let go

    def start(self) -> ReportWorker:
        package_parent = str(Path(__file__).resolve().parents[2])  # this energybench, whatever the caller's path
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH"))
                                                            if p)}
        self.stderr = tempfile.TemporaryFile()  # read only to say why it failed
        try:
            # its own session: Ctrl-C reaches the run alone, which then stops this process and any
            # drawer it forked as one group (close), so none outlives the run
            self.proc = subprocess.Popen([sys.executable, "-m", "energybench.report.worker", str(os.getpid())],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                         env=env, start_new_session=True)
        except OSError as exc:
            self.failed = f"could not start it: {exc}"
            self.proc = None
            self.stderr.close()
        return self

    def build(self, run_dir: str | Path, formats: Iterable[str]) -> list[Path]:
        """build_reports(run_dir, formats) by the report process, or here if it cannot."""
        from energybench.errors import OutputFailed, UserError
        from energybench.report.build import _category, build_reports

        reply, why = None, self.failed
        if self.proc is not None:
            try:
                self.proc.stdin.write((json.dumps({"run_dir": str(run_dir), "formats": list(formats)}) + "\n").encode())
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
                reply = json.loads(line) if line else None
                self.idle = bool(line)
                why = (f"it ended with status {self.proc.wait()}{self._last_error()}" if not line
                       else f"an unexpected reply: {line[:200]!r}")
            except (OSError, ValueError) as exc:
                why = f"{type(exc).__name__}: {exc}"
        if isinstance(reply, dict) and "user_error" in reply:  # the same error building here would raise
            if reply.get("errno") is not None:
                raise OutputFailed(reply["user_error"], reply["errno"])
            raise UserError(reply["user_error"])
        if not (isinstance(reply, dict) and isinstance(reply.get("paths"), list)):
            warnings.warn(f"the report process failed ({why}); writing the reports in this process", stacklevel=2)
            return build_reports(run_dir, formats=formats)
        for category, message in reply.get("warnings", []):
            warnings.warn(message, _category(category), stacklevel=2)
        return [Path(p) for p in reply["paths"]]

    def _last_error(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def close(self) -> None:
        """Stop the process and its drawer (whatever they were doing: an interrupted one deletes its
        temporary files as it leaves), and wait for them: no process outlives the run."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # end of input: an idle process leaves by itself
        except OSError:
            pass
        stopped = not self.idle and proc.poll() is None
        if stopped:  # warming up or drawing (the run was interrupted): stopped as by Ctrl-C, not waited for
            _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=LEAVE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if stopped:
            # a forked drawer still finishing: it writes no file
            _signal_group(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        proc.stdout.close()
        self.stderr.close()


def _signal_group(pgid: int, sig: int) -> None:
    """The process pgid and what it forked (its session's group), where there are process groups."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(pgid, sig)
        elif sig == signal.SIGTERM:
            os.kill(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _prewarm() -> None:
    """What a report needs before its first figure, done while the cells train: the imports, and a
    throwaway figure drawn to PDF and SVG (font files, fontTools' subsetter, the text layout caches)."""
    import contextlib
    import io

    with contextlib.suppress(ImportError):  # pandas reads metrics with it where it is installed
        import pyarrow.pandas_compat  # noqa: F401
    import pypdf.annotations  # noqa: F401 (the PDF's links)
    from matplotlib.figure import Figure
    from PIL import Image

    import energybench.report.expansion_plots  # noqa: F401
    import energybench.report.sections  # noqa: F401
    import energybench.report.fork  # noqa: F401
    from energybench.report.build import render  # noqa: F401
    from energybench.report.html import render_html  # noqa: F401
    from energybench.report.pages import MARGIN, PAGE_SIZES
    from energybench.report.pdf import render_pdf  # noqa: F401
    from energybench.report.style import drawing, size_for

    Image.init()  # the image plugins (raster figures in the PDF)
    with drawing(size_for(PAGE_SIZES["letter"][0] - 2 * MARGIN)):
        fig = Figure(figsize=(2, 1.5))
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], marker="o", label="warm-up 0.5%")
        ax.set_xlabel("sharing")
        ax.legend()
        for fmt in ("pdf", "svg"):
            fig.savefig(io.BytesIO(), format=fmt)


def _serve(request: dict) -> dict:
    from energybench.errors import UserError
    from energybench.report.build import build_reports

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the run's own filters decide, as it re-raises them
        try:
            paths = build_reports(request["run_dir"], formats=request["formats"])
        except UserError as exc:
            return {"user_error": str(exc), "errno": getattr(exc, "errno", None)}  # (OutputFailed's)
    return {"paths": [str(p) for p in paths], "warnings": [(w.category.__name__, str(w.message)) for w in caught]}


def _follow_parent(parent: int) -> None:
    """Linux: be sent SIGTERM if the run's process dies without closing us (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    replies = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the pipe
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: temporary files are deleted
    try:
        _follow_parent(int(argv[0]))
        _prewarm()
        for line in sys.stdin:  # end of input: the run is over
            replies.write(json.dumps(_serve(json.loads(line))) + "\n")
            replies.flush()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    # The run waits for this process to leave before it ends: skip the interpreter's freeing of every
    # module's objects one by one (matplotlib's, pandas', pyarrow's: about 1 s, measured). Nothing is
    # left to write: each reply was flushed, and the reports' temporary files went as they were used.
    os._exit(code)
