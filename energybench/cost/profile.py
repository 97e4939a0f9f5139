"""One training step of a backbone, without data: build it, freeze the shared prefix, count
one SGD step, and price the counts (what `energybench cost` prints, as plain data)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from energybench.cost.counter import StepProfile, count_step
from energybench.cost.energy import step_energy
from energybench.cost.memory_model import layer_accesses, storage_bytes
from energybench.cost.tables import EnergyTable, precision_bits
from energybench.errors import UserError
from energybench.models import build_net
from energybench.models.surgery import Cut, cut_at


def profile_training_step(model: str, in_shape: tuple[int, int, int], classes: int, batch: int = 1,
                          sharing: float = 0.0, *, width: float = 1.0, cifar_stem: bool = False,
                          device: str = "cpu", seed: int = 0) -> tuple[nn.Module, Cut, StepProfile]:
    """Build the network, freeze the shared prefix, run one counted SGD step (momentum 0.9,
    weight decay 5e-4) on seeded random inputs: counts depend on shapes only.
    Returns (net, cut, profile)."""
    torch.manual_seed(seed)
    with torch.device(device):  # on meta, no time goes into initialising weights
        net = build_net(model, in_shape, classes, width=width, cifar_stem=cifar_stem)
        x = torch.randn(batch, *in_shape)
        y = torch.randint(0, classes, (batch,))
    cut = cut_at(net.backbone, sharing)
    net.freeze_blocks(cut.blocks)
    net.train()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                          weight_decay=5e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    try:
        _, profile = count_step(step, net)
    except (RuntimeError, ValueError) as exc:
        shape = "x".join(map(str, in_shape))
        hint = (" (batch norm in training mode needs more than one value per channel: use --batch 2 or more,"
                " or a larger input)" if "more than 1 value per channel" in str(exc) else "")
        raise UserError(f"model '{model}' cannot train on input {shape} with batch {batch}: "
                        f"{str(exc).splitlines()[0]}{hint}") from None
    return net, cut, profile


def step_cost(net: nn.Module, cut: Cut, profile: StepProfile, table: EnergyTable, precision: str,
              sram_cell: str, sram_bytes: int | None) -> dict[str, Any]:
    """The step's counts, memory accesses, energies and storage, whole and per layer."""
    energy = step_energy(profile, table, precision, sram_cell, sram_bytes)
    by_name = {le.name: le for le in energy.layers}
    ew_by_name = {le.name: le for le in energy.ew_layers}
    layers = []
    for layer in profile.layers:
        acc, le, ewe = layer_accesses(layer), by_name.get(layer.name), ew_by_name.get(layer.name)
        layers.append({
            "name": layer.name, "kind": layer.kind, "fwd_macs": layer.fwd_macs,
            "bwd_input_macs": layer.bwd_input_macs, "bwd_weight_macs": layer.bwd_weight_macs,
            "weight_elems": layer.weight_elems, "trainable_elems": layer.trainable_elems,
            "in_elems": layer.in_elems, "out_elems": layer.out_elems, "mem_reads": acc.reads,
            "mem_writes": acc.writes, "working_set_bytes": le.working_set_bytes if le else 0,
            "sram_bytes": le.sram_bytes if le else 0,
            "memory_energy_j": le.memory_pj * 1e-12 if le else 0.0,
            "dram_fraction": 1 - le.sram_fraction if le else 0.0,
            "elementwise_fwd_ops": layer.ew_fwd_mults + layer.ew_fwd_adds,
            "elementwise_bwd_ops": layer.ew_bwd_mults + layer.ew_bwd_adds,
            "elementwise_mem_reads": layer.ew_reads, "elementwise_mem_writes": layer.ew_writes,
            "elementwise_memory_energy_j": ewe.memory_pj * 1e-12 if ewe else 0.0,
        })
    total = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return {
        "forward_macs": profile.fwd_macs, "backward_input_macs": profile.bwd_input_macs,
        "backward_weight_macs": profile.bwd_weight_macs, "update_ops": profile.update_ops,
        "train_step_macs": profile.train_macs, "mem_reads": energy.mem_reads, "mem_writes": energy.mem_writes,
        "compute_energy_j": energy.compute_j, "memory_energy_j": energy.memory_j,
        "dram_energy_j": energy.dram_j, "dram_access_fraction": energy.dram_access_fraction,
        "storage_bytes": storage_bytes([net], 0, precision),
        "total_params": total, "trainable_params": trainable,
        "sharing_requested": cut.requested, "sharing_achieved": cut.achieved, "shared_blocks": cut.blocks,
        "energy_table": table.label(precision), "energy_table_origin": table.origin,
        "precision": precision, "sram_cell": sram_cell, "sram_bytes": sram_bytes,
        "sram_largest_bytes": table.sram_rows_for(sram_cell, precision_bits(precision))[0][-1][0],
        "sram_extrapolated": energy.extrapolated,
        "elementwise_fwd_ops": profile.ew_fwd_ops, "elementwise_bwd_ops": profile.ew_bwd_ops,
        "elementwise_mults": profile.ew_mults, "elementwise_adds": profile.ew_adds,
        "elementwise_mem_reads": energy.ew_reads, "elementwise_mem_writes": energy.ew_writes,
        "elementwise_compute_energy_j": energy.ew_compute_j, "elementwise_memory_energy_j": energy.ew_memory_j,
        "optimizer": profile.optimizer, "update_source": profile.update_source,
        "uncounted_ops": profile.uncounted_ops, "layout_ops": profile.layout_ops, "notes": profile.notes,
        "layers": layers,
    }
