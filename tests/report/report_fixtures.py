"""Report fixtures: run directories written by rundir_factory and their reports, built once
per session (a sweep's report takes seconds) and shared by the report tests, which import
`built` from here (not a conftest.py: tests elsewhere import tests/conftest.py as `conftest`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rundir_factory import make_run_dir, single_run, sweep

KINDS = {
    # name -> how to write the run directory
    "single": lambda root: single_run(root),
    "single_power": lambda root: single_run(root, power=True),
    "sweep_power": lambda root: sweep(root, power=True),  # 3 methods x 7 levels x 2 seeds
    "sweep": lambda root: make_run_dir(root, methods=("finetune", "sharing"), sharing=(0.0, 0.5, 0.8)),
}


_ROOTS: dict[str, Path] = {}
_REPORTS: dict[tuple[str, str], Path] = {}  # module-level: shared by every module that imports `built`


@pytest.fixture(scope="session", name="built")
def built_reports(tmp_path_factory):
    """built(kind, fmt) -> the report.<fmt> of that kind of run directory (each built once)."""
    from energybench.report import build_reports

    def get(kind: str, fmt: str = "html") -> Path:
        if kind not in _ROOTS or not _ROOTS[kind].exists():
            _ROOTS[kind] = KINDS[kind](tmp_path_factory.mktemp("runs") / kind)
        if (kind, fmt) not in _REPORTS or not _REPORTS[kind, fmt].exists():
            [_REPORTS[kind, fmt]] = build_reports(_ROOTS[kind], formats=(fmt,))
        return _REPORTS[kind, fmt]

    return get
