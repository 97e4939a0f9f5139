"""Hardware cost of training: counted ops (counter), memory accesses and storage
(memory_model), energy tables (tables), mappers (mappers/) and the one pricing engine
(level_energy: joules per level, latency, area), per-phase totals (ledger) and the profile of
one training step without data (profile). See README.md in this folder for the
model and its sources. Measured power lives in energybench.power.
"""
