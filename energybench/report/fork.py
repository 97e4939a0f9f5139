"""Work done on a second core by a forked copy of this process: the PDF pages render there while
this process renders the HTML's SVG (matplotlib draws under the GIL, so threads would not
help). The child inherits the drawn figures; it sends back only bytes, through a temporary
file. Forking is used only where it is safe: on Linux, in a process with a single thread (the
`energybench report` and `compare` commands; not at the end of a run, where PyTorch's threads
live), and anything the child fails to deliver is computed here instead, so the result never
depends on it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Callable


def _single_threaded() -> bool:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Threads:"):
                    return int(line.split()[1]) == 1
    except OSError:
        pass
    return False


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and _single_threaded()


def in_child(fn: Callable[[], bytes]) -> Callable[[], bytes]:
    """Start fn() in a forked child; the returned function waits for its bytes (or computes
    them here if the child could not deliver them, or forking is not safe)."""
    if not can_fork():
        return fn
    out = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: compute, write, leave without running the parent's exit handlers
        code = 1
        try:
            out.write(fn())
            out.flush()
            code = 0
        finally:
            os._exit(code)

    def collect() -> bytes:
        _, status = os.waitpid(pid, 0)
        try:
            if os.waitstatus_to_exitcode(status) == 0:
                out.seek(0)
                return out.read()
        finally:
            out.close()
        return fn()

    return collect
