"""RTL characterisation: per-operation energies derived from Verilog arithmetic units.

Flow: synth.py (Yosys -> gate netlist) -> netlist.py (levelise) -> simulate.py
(bit-parallel toggles) -> energy.py (toggles x per-net energy, from energy_model.py's
generic 45nm gates or liberty.py's cells) -> characterize.py (checks, table).
The Verilog sources live in verilog/; testbenches and notes in rtl_models/ at the repo root.
"""
