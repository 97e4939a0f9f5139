"""Shared test set-up: single-threaded torch (tiny nets run fastest so, and tests stay
deterministic), a requirement helper for system tools, the README's user-code examples, and how
pytest-xdist (-n in pyproject.toml's addopts) shares the tests out among its workers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


def require_tool(*names: str) -> None:
    """Skip when a system tool is missing, except on CI (CI=true), where it must be there."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    missing_on_ci(f"needs {', '.join(missing)} on PATH (Debian: apt-get install {' '.join(missing)})")


def missing_on_ci(msg: str) -> None:
    """Skip for what this machine lacks, except on CI (CI=true), where scripts/install-system-tools
    must have installed it: there the test fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide it: {msg}")
    pytest.skip(msg)


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def require_fashion_mnist() -> None:
    """Skip when Debian's Fashion-MNIST is not installed, except on CI (CI=true), where
    scripts/install-system-tools must have installed it."""
    if os.path.isdir(FASHION_MNIST):
        return
    missing_on_ci(f"needs Fashion-MNIST at {FASHION_MNIST} (Debian: apt-get install dataset-fashion-mnist)")


def reduced() -> bool:
    """Slow end-to-end checks run in reduced form (CI's) unless ENERGYBENCH_FULL=1 asks for the
    full protocol (`ENERGYBENCH_FULL=1 pytest -m slow`)."""
    return os.environ.get("ENERGYBENCH_FULL") != "1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (for a Ray head, or an address where no cluster answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python(first_line: str) -> str:
    """The README's python block that starts with `first_line` (so the documented code is what is tested)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"README has no single python block starting {first_line!r}"
    return found[0]


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A directory outside the package, on sys.path; modules imported from it are forgotten afterwards."""
    code = tmp_path / "code"
    code.mkdir()
    monkeypatch.syspath_prepend(str(code))
    before = set(sys.modules)
    yield code
    for name in set(sys.modules) - before:
        if name.startswith("my_"):
            del sys.modules[name]


# Long tests of these files are independent of one another: each is sent to a worker on its own (spread), so
# that no worker gets all of them. Ray tests may run beside each other: each starts its own cluster.
SPREAD = {"tests/engine/test_ray.py", "tests/engine/test_ray_faults.py", "tests/engine/test_phase_resume.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """-n auto (addopts): one worker more than the CPUs. About a third of the suite's time is tests that wait for
    the processes and Ray clusters they start; a third worker keeps 2 cores busy meanwhile (296-350 s against
    368-398 s with 2 workers and 374 s with 4, on a 2-core machine, 2026-12-06). PYTEST_XDIST_AUTO_NUM_WORKERS
    still sets the number, as in pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under --dist loadfile (addopts), a test file goes to one worker whole, so that its module-scoped fixtures
    are computed once (a session-scoped one: once on each worker that needs it), except the files in SPREAD.
    Files go out in the collection's order. pytest-xdist's own order (the files with most tests first) sent every
    long single test last, where one worker was left with it alone: 343 s against 296-350 s on 3 workers.
    (Not xdist_group marks: --dist loadgroup groups nothing under pytest 9.2, pytest-xdist issue 1386.)"""
    from xdist.scheduler import LoadFileScheduling

    if config.getvalue("dist") != "loadfile":  # another --dist on the command line is left as asked
        return None
    config.option.loadscopereorder = False

    class FileUnlessSpread(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if path in SPREAD else path

    return FileUnlessSpread(config, log)
