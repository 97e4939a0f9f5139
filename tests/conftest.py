"""Shared test set-up: single-threaded torch (tiny nets run fastest so, and tests stay
deterministic), a requirement helper for system tools, and the bundled digits scenario."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

torch.set_num_threads(1)


def require_tool(*names: str) -> None:
    """Skip when a system tool is missing, except on CI (CI=true), where it must be there."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    msg = f"needs {', '.join(missing)} on PATH (Debian: apt-get install {' '.join(missing)})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide it: {msg}")
    pytest.skip(msg)


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def require_fashion_mnist() -> None:
    """Skip when Debian's Fashion-MNIST is not installed, except on CI (CI=true), where
    scripts/install-system-tools must have installed it."""
    if os.path.isdir(FASHION_MNIST):
        return
    msg = f"needs Fashion-MNIST at {FASHION_MNIST} (Debian: apt-get install dataset-fashion-mnist)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide it: {msg}")
    pytest.skip(msg)


def reduced() -> bool:
    """Slow end-to-end checks run in reduced form (CI's) unless ENERGYBENCH_FULL=1 asks for the
    full protocol (`ENERGYBENCH_FULL=1 pytest -m slow`)."""
    return os.environ.get("ENERGYBENCH_FULL") != "1"
