"""Executors by the name `--executor` gives them; each follows executors/base.Executor."""

from energybench.engine.executors.local import LocalExecutor
from energybench.engine.executors.ray import RayExecutor

EXECUTORS = {LocalExecutor.name: LocalExecutor, RayExecutor.name: RayExecutor}
