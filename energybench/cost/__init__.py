"""Hardware cost of training: counted ops (counter: per-op formulas in op_handles, the
dispatch mode in dispatch, the step profile in step), memory accesses and storage
(memory_model), energy tables (tables), mappers (mappers/) and the one pricing engine
(level_energy: joules per level, latency, area), per-phase totals (ledger) and one counted
step priced (profile; training/step_profile.py builds and counts it). See README.md in this
folder for the model and its sources. Measured power lives in energybench.power.
"""
