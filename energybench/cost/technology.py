"""An energy table moved to another technology node and supply voltage.

- Per-op energies (and a register energy per bit) are the table's times the Stillmaker and
  Baas energy factor from the table's own node and supply to the requested ones (nodes.py),
  for the chosen device flavour (high-performance by default).
- SRAM energies and leakage are CACTI's at the node (cacti.py): CACTI runs at 90-22 nm, the
  22 nm runs scaled below it. The SRAM keeps its own supply; --vdd sets the logic supply.
- DRAM figures are device figures and stay as they are (dram.py).

No option, or the table's own node and supply, returns the table itself: today's numbers.
"""

from __future__ import annotations

from dataclasses import replace

from energybench.cost import cacti, nodes
from energybench.cost.tables import EnergyTable
from energybench.errors import UserError


def resolve(table: EnergyTable, node=None, vdd=None, flavour: str = nodes.DEFAULT_FLAVOUR) -> tuple[int, float]:
    """(node, vdd) a run asks for: the table's own where unset; the node's nominal supply when
    only the node is given. UserError for an unknown node or a voltage outside its range."""
    flavour = nodes.check_flavour(flavour)
    target = table.node_nm if node is None else nodes.check_node(node)
    if vdd is None:
        vdd = table.own_vdd if target == table.node_nm else nodes.nominal_vdd(target, flavour)
        return target, vdd
    return target, nodes.check_vdd(target, vdd, flavour)


def at_node(table: EnergyTable, node=None, vdd=None, flavour: str = nodes.DEFAULT_FLAVOUR) -> EnergyTable:
    """The table's figures at (node, vdd); the table itself when nothing changes."""
    if node is None and vdd is None:
        return table
    if table.is_ert:
        raise UserError(f"--node and --vdd move a built-in or YAML energy table to another node; the Accelergy ERT "
                        f"{table.origin} already holds the energies of its own node ({table.where()}) and is used as "
                        "given (leave --node and --vdd out, or export the ERT at the node you want)")
    node, vdd = resolve(table, node, vdd, flavour)
    if (node, vdd) == (table.node_nm, table.own_vdd):
        return table
    k = nodes.energy_factor(table.node_nm, table.own_vdd, node, vdd, flavour)
    scaling = (
        f"op energies x {k:.4g}: {nodes.SOURCE}, {flavour.upper()} devices, energy from {table.node_nm} nm "
        f"{table.own_vdd:g} V to {node} nm {vdd:g} V",
        f"SRAM: {cacti.source(node, flavour)} (own ITRS cell supply)",
        "DRAM: per-bit device figures, not node-scaled",
    )
    return replace(
        table,
        ops_pj={p: {op: e * k for op, e in ops.items()} for p, ops in table.ops_pj.items()},
        register_pj_per_bit=None if table.register_pj_per_bit is None else table.register_pj_per_bit * k,
        sram_rows=cacti.energy_rows(node, flavour), sram_leak_rows=cacti.leakage_rows(node, flavour),
        node_nm=node, vdd=vdd, sram_source=cacti.source(node, flavour), scaling=scaling,
        scaled_from=(table.node_nm, table.own_vdd),
    )


def logic_factor(table: EnergyTable, node: int, vdd: float, flavour: str = nodes.DEFAULT_FLAVOUR,
                 from_node: int | None = None, from_vdd: float | None = None) -> float:
    """The factor that moves a logic energy given at (from_node, from_vdd) — the table's own by
    default — to (node, vdd)."""
    from_node = table.node_nm if from_node is None else nodes.check_node(from_node)
    if from_vdd is None:
        from_vdd = table.own_vdd if from_node == table.node_nm else nodes.nominal_vdd(from_node, flavour)
    return nodes.energy_factor(from_node, from_vdd, node, vdd, flavour)
