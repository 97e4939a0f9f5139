"""Experiment trackers (MLflow, TensorBoard): sinks the runner feeds after each phase's row is
written. Each comes from an optional extra; one that fails warns once and is dropped, so a
tracker never costs a result (the run directory holds everything in any case)."""

from __future__ import annotations

import importlib.util

from energybench.errors import UserError, unknown_name

# tracker -> (the package it needs, the extra that installs it)
TRACKERS = {"mlflow": ("mlflow", "energybench[mlflow]"), "tensorboard": ("tensorboard", "energybench[tensorboard]")}


def check_trackers(names: list[str]) -> None:
    """Known names, each once, each with its package installed: before anything is written."""
    for name in names:
        if name not in TRACKERS:
            raise UserError(unknown_name("tracker", name, TRACKERS))
    if len(set(names)) != len(names):
        raise UserError(f"trackers repeat: {', '.join(names)}")
    for name in names:
        package, extra = TRACKERS[name]
        if importlib.util.find_spec(package) is None:
            raise UserError(f"tracker '{name}' needs the {package} package, which is not installed; "
                            f"install it with: pip install '{extra}'")


def open_trackers(cfg, root, manifest: dict, log=print):
    """The run's trackers behind one guard (base.Trackers); none when the config names none."""
    from energybench.trackers.base import Trackers, run_params

    made = []
    params = run_params(cfg, manifest)
    for name in cfg.trackers:
        if name == "mlflow":
            from energybench.trackers.mlflow import MlflowTracker

            made.append((name, lambda: MlflowTracker(root, params, cfg.tracking_uri)))
        elif name == "tensorboard":
            from energybench.trackers.tensorboard import TensorBoardTracker

            made.append((name, lambda: TensorBoardTracker(root, params)))
    return Trackers(made, log)
