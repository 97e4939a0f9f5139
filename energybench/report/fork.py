"""Work done on a second core by a forked copy of this process: the report's first pages are
drawn and written there (PDF and their figures' SVG) while this process does the rest
(matplotlib draws under the GIL, so threads would not help). The child inherits the laid-out
document; it sends back only bytes, through a temporary file. Forking is used only where it is safe: on Linux, with
no other Python thread and no
PyTorch loaded (the `energybench report` and `compare` commands; not at the end of a run), and
anything the child fails to deliver is computed here instead, so the result never
depends on it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import warnings
from typing import Callable


def can_fork() -> bool:
    """Linux, no other Python thread, and no PyTorch loaded (its thread pools and CUDA state do
    not survive a fork). numpy's BLAS threads may exist: OpenBLAS and MKL make themselves safe
    across fork, as every numpy program under multiprocessing's long-time default relies on."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1
            and ("torch" not in sys.modules or _torch_idle()))


def _torch_idle() -> bool:
    """PyTorch imported but never put to work: no CUDA state, and no thread beyond this one and
    numpy's BLAS workers (an `energybench report` process imports torch with the command list,
    then runs no op of it). Any op that starts torch's thread pools adds OS threads."""
    torch = sys.modules["torch"]
    if torch.cuda.is_initialized():
        return False
    try:
        threads = [_thread_name(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return False
    # jemalloc's purging thread (pyarrow's memory pool, started by reading the run) is fork-safe:
    # jemalloc handles fork itself, and forking with it running is what happens without torch too
    return sum(name not in (None, "jemalloc_bg_thd") for name in threads) <= 1 + _blas_workers()


def _thread_name(tid: str) -> str | None:
    try:
        with open(f"/proc/self/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:  # the thread ended meanwhile
        return None


def _blas_workers() -> int:
    """The worker threads numpy's OpenBLAS starts when imported (its thread count less the caller)."""
    if "numpy" not in sys.modules:
        return 0
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value) - 1
    return max((os.cpu_count() or 1) - 1, 0)


def in_child(fn: Callable[[], bytes]) -> Callable[[], bytes]:
    """Start fn() in a forked child; the returned function waits for its bytes (or computes
    them here if the child could not deliver them, or forking is not safe)."""
    if not can_fork():
        return fn
    out = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():  # Python 3.12+ warns of any thread, BLAS's idle ones included
        warnings.simplefilter("ignore", DeprecationWarning)
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
