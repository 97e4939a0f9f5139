"""Hardware cost of training: counted ops (counter), memory accesses and storage
(memory_model), energy tables (tables), joules (energy), per-phase totals (ledger), and
measured power (power*). See README.md in this folder for the model and its sources.

Names are imported lazily so that `energybench.cost.power` does not pull in the counter.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "count_step": "counter", "count_forward": "counter", "OpCounter": "counter", "StepProfile": "counter",
    "LayerCost": "counter", "CostLedger": "ledger", "storage_bytes": "memory_model",
    "layer_accesses": "memory_model", "Accesses": "memory_model", "EnergyTable": "tables",
    "load_energy_table": "tables", "step_energy": "energy", "StepEnergy": "energy",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"energybench.cost.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'energybench.cost' has no attribute '{name}'")
