"""ZigZag as a mapper: each MAC pass of a layer mapped by ZigZag's LOMA search on the
architecture's own levels and energies, answered as PassMappings (words per level, cycles,
utilisation) like the analytic model's. The optimizer update and element-wise work are not
MAC passes: they stay with the analytic model.

    mapper = ZigZagMapper(hardware)               # a HardwareModel: table, node, precision
                                                  # (ZigZagMapper() takes the default table at the
                                                  # precision of value_bits; set .hardware to the
                                                  # run's so ZigZag searches with its energies)
    mapper.map_layer(layer, arch, value_bits)     # forward, backward_input, backward_weight
    mapper.map_layers(profile.layers, arch, bits) # all layers, distinct layer-passes in parallel

Translation: energybench.cost.zigzag (hardware.py, workload.py); cache and processes: runner.py.
Without ZigZag installed every call raises UserError naming `pip install 'energybench[zigzag]'`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from energybench.cost.arch import Architecture
from energybench.cost.mapping import PassMapping
from energybench.cost.zigzag import hardware as zz_hardware
from energybench.cost.zigzag import runner
from energybench.cost.zigzag.workload import PassWorkload, pass_workloads

if TYPE_CHECKING:
    from pathlib import Path

    from energybench.cost.counter import LayerCost
    from energybench.cost.level_energy import HardwareModel

PRECISION_OF_BITS = {32: "fp32", 16: "fp16", 8: "int8"}


class ZigZagMapper:
    name = "zigzag"

    def __init__(self, hardware: "HardwareModel | None" = None, *, processes: int | None = None,
                 settings: dict | None = None, cache_dir: "Path | None" = None):
        runner.zigzag_version()  # not installed: the UserError with the install command, now
        self.hardware, self.processes, self.cache_dir = hardware, processes, cache_dir
        self.settings = {**runner.SETTINGS, **(settings or {})}

    def _hardware_for(self, arch: Architecture, value_bits: int) -> "HardwareModel":
        from energybench.cost.level_energy import HardwareModel
        from energybench.cost.tables import load_energy_table

        hw = self.hardware
        if hw is not None and hw.arch == arch and hw.bits == value_bits:
            return hw
        table = hw.table if hw is not None else load_energy_table(None)
        precision = hw.precision if hw is not None and hw.bits == value_bits else PRECISION_OF_BITS.get(value_bits,
                                                                                                          "fp32")
        return HardwareModel(table, arch, precision)

    def map_layer(self, layer: "LayerCost", arch: Architecture, value_bits: int) -> list[PassMapping]:
        return self.map_layers([layer], arch, value_bits)[layer.name]

    def map_layers(self, layers: Iterable["LayerCost"], arch: Architecture,
                   value_bits: int) -> dict[str, list[PassMapping]]:
        """Every layer's MAC passes; all distinct ZigZag layers of all of them are mapped in one
        parallel batch (the cache answers the ones seen before)."""
        hw = self._hardware_for(arch, value_bits)
        acc, level_of, words = zz_hardware.accelerator(hw, value_bits)
        mapping = zz_hardware.mapping(arch)
        layers = list(layers)
        workloads = {layer.name: pass_workloads(layer, value_bits) for layer in layers}
        flat = [d for ws in workloads.values() for w in ws for d, _t in w.layers]
        answers = runner.run_layers(flat, acc, mapping, self.settings, self.processes, self.cache_dir)
        it = iter(answers)
        out: dict[str, list[PassMapping]] = {}
        for layer in layers:
            out[layer.name] = [self._pass(w, [next(it) for _ in w.layers], arch, level_of, words)
                               for w in workloads[layer.name]]
        return out

    @staticmethod
    def _pass(w: PassWorkload, answers: list[dict], arch: Architecture, level_of: dict[str, str],
              words: dict[str, int]) -> PassMapping:
        levels = {lv.name: [0.0, 0.0] for lv in arch.levels}
        cycles = 0.0
        for (_d, times), a in zip(w.layers, answers):
            k = times * w.scale
            for mem, acc in a["memories"].items():
                rw = levels[level_of[mem]]
                rw[0] += acc["reads"] * words[mem] * k
                rw[1] += acc["writes"] * words[mem + ":w"] * k
            cycles += a["latency_cycles"] * k
        pes = zz_hardware.pes(arch)
        return PassMapping(layer=w.layer, pass_=w.pass_, levels={n: (r, wr) for n, (r, wr) in levels.items()},
                           macs=w.macs, latency_cycles=cycles,
                           utilisation=w.macs / (cycles * pes) if cycles else None, mapper="zigzag")
