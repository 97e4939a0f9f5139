"""The pricing engine: one path prices every architecture (the default per-layer buffer, the
shipped files, users' files) for the headline, metrics.csv, the per-level columns and the
per-layer breakdown.

A HardwareModel is the energy table at its node (technology.py), an architecture (arch.py),
the run's precision, SRAM cell and mapper (mappers/). `step(profile)` prices one counted step:

- each layer's passes come from the mapper (PassMapping: words read and written per level,
  MACs, cycles, utilisation), on the architecture with any auto-sized SRAM sized for the layer;
  a mapper of MAC passes (ZigZag) gets this model as its hardware and the step's layers in one
  batch, and the analytic model adds the update and the parameters outside the GEMMs;
- each level: word reads x read energy + writes x write energy, per access of the level's word
  (`word_bits`, default the precision; narrower values are packed);
- compute: MACs x (mult + add) + update multiplies and adds;
- latency: the passes' cycles, one layer after another, at the clock; leakage (its own figure,
  never in the dynamic energy): CACTI leakage per bank x banks x instances of every on-chip
  level, times that latency.

With an Accelergy ERT as the energy table, a level named like one of the ERT's memory
components takes that component's read and write energies.

Pure: no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from energybench.cost import dram as drams
from energybench.cost.arch import STATIONARY, Architecture, Level
from energybench.cost.area import AREA_SOURCE, architecture_area
from energybench.cost.energy import auto_sram_bytes, compute_energy_pj
from energybench.cost.mappers import DEFAULT_MAPPER, check_mapper, get_mapper
from energybench.cost.mappers.analytic import AnalyticMapper
from energybench.cost.mapping import PassMapping
from energybench.cost.memory_model import working_set_words
from energybench.cost.tables import EnergyTable, load_energy_table, precision_bits
from energybench.cost.technology import logic_factor
from energybench.errors import UserError

if TYPE_CHECKING:
    from energybench.cost.step import StepProfile

PJ = 1e-12
REGISTER_FALLBACK = "aladdin45"  # its register_pj_per_bit prices `energy: register` when a table has none


@dataclass(frozen=True)
class LevelResult:
    name: str
    kind: str
    reads: float
    writes: float
    energy_j: float
    read_pj: float | None  # per access (None where it varies by layer: auto-sized SRAM)
    write_pj: float | None
    leakage_w: float
    source: str
    extrapolated: bool  # the access energy comes from outside CACTI's capacities or word widths
    leakage_extrapolated: bool = False


@dataclass(frozen=True)
class LayerLevel:
    """One layer's accesses and energy at one level in one pass; `component` names the SRAM
    size an auto-sized level took for the layer (`buffer_65536B`), else the level."""

    layer: str
    pass_: str
    level: str
    reads: float
    writes: float
    energy_j: float
    component: str = ""


@dataclass(frozen=True)
class PassResult:
    """One (layer, pass) priced: MACs, compute joules, cycles, utilisation and, per level,
    (reads, writes, joules); `mapper` says who mapped it."""

    layer: str
    pass_: str
    macs: float
    compute_j: float
    latency_cycles: float
    utilisation: float | None
    levels: dict[str, tuple[float, float, float]]
    mapper: str


@dataclass(frozen=True)
class HardwareStep:
    arch: str
    compute_j: float
    levels: tuple[LevelResult, ...]
    layers: tuple[LayerLevel, ...]
    time_s: float | None  # modelled step time (None without an array and clock)
    extrapolated: bool
    passes: tuple[PassResult, ...] = ()
    latency_cycles: float | None = None  # None without an array
    mapper: str = DEFAULT_MAPPER
    area_mm2: float | None = None  # the chip's area (None: an auto-sized buffer, or the node unknown)
    macs: float = 0  # the step's training MACs
    pes: int | None = None

    @property
    def dynamic_j(self) -> float:
        return self.compute_j + self.memory_j

    @property
    def utilisation(self) -> float | None:
        """The step's MACs over what its PEs could do in its modelled latency."""
        return self.macs / (self.latency_cycles * self.pes) if self.pes and self.latency_cycles else None

    @property
    def edp_js(self) -> float | None:
        """Energy-delay product: dynamic energy x modelled latency."""
        return self.dynamic_j * self.time_s if self.time_s is not None else None

    def figures_of_merit(self) -> dict[str, float | None]:
        """latency, EDP, energy per MAC, TOPS/W and TOPS/mm^2 at the modelled utilisation
        (an operation: a multiply or an add, two per MAC)."""
        t, e, ops = self.time_s, self.dynamic_j, 2 * self.macs
        return {"latency_cycles": self.latency_cycles, "latency_s": t, "utilisation": self.utilisation,
                "area_mm2": self.area_mm2, "edp_js": self.edp_js,
                "energy_per_mac_j": e / self.macs if self.macs else None,
                "tops_per_w": ops / e / 1e12 if e else None,
                "tops_per_mm2": ops / t / 1e12 / self.area_mm2 if t and self.area_mm2 else None}

    @property
    def memory_j(self) -> float:
        return sum(lv.energy_j for lv in self.levels)

    @property
    def leakage_w(self) -> float:
        return sum(lv.leakage_w for lv in self.levels)

    def level_energy(self, kind: str) -> float | None:
        """Dynamic energy of the architecture's level of that kind (rf, sram, dram); None: no such level."""
        found = [lv.energy_j for lv in self.levels if lv.kind == kind]
        return sum(found) if found else None


class HardwareModel:
    def __init__(self, table: EnergyTable, arch: Architecture, precision: str = "fp32",
                 sram_cell: str | None = None, sram_bytes: int | None = None, mapper: str | None = None):
        self.table, self.arch, self.precision = table, arch, precision
        self.bits = precision_bits(precision)
        self.sram_cell = sram_cell or table.sram_cell
        self.sram_bytes = sram_bytes
        table.mac_pj(precision)  # a precision the table lacks fails here
        if sram_bytes is not None and arch.dataflow != "layer_buffer":
            raise UserError(f"--sram-bytes fixes the per-layer buffer of the layer_buffer architecture; "
                            f"{arch.name} sets its buffers in its file ({arch.origin}): leave --sram-bytes out")
        self._pj = {lv.name: self._access_pj(lv) for lv in arch.levels}  # fails early on a bad level
        self._by_name = {lv.name: lv for lv in arch.levels}
        self._auto = next((lv for lv in arch.levels if lv.kind == "sram" and (
            lv.capacity_bytes is None or (sram_bytes is not None and arch.dataflow == "layer_buffer"))), None)
        self._sized_pj: dict[int, tuple[float, float, bool]] = {}
        self._analytic = AnalyticMapper()
        self.mapper = get_mapper(mapper)
        if not isinstance(self.mapper, AnalyticMapper):
            self.mapper = self.mapper if arch.dataflow in STATIONARY else self._stationary_only(mapper)
            self.mapper.hardware = self  # it searches with this run's energies (node, table), not its default's
        else:
            self.mapper = self._analytic
        self.mapper_name = check_mapper(mapper)
        self.area = architecture_area(arch, precision, self.bits, table.node_nm, self._cell)
        # An Accelergy ERT carries no leakage: then the leakage columns stay empty, and say why.
        self.leakage_on = arch.leakage != "off" and not table.is_ert
        self.leakage_note = ("" if arch.leakage == "off" or self.leakage_on else
                             f"no leakage: the Accelergy ERT {table.origin} has no static power figures")
        self._leak = {lv.name: self._leakage(lv) for lv in arch.levels} if self.leakage_on else {}

    # ----- per-access energies -------------------------------------------------------------
    def _word_bits(self, level: Level) -> int:
        return level.word_bits or self.bits

    def _access_pj(self, level: Level) -> tuple[float | None, float | None, str, bool]:
        """(read_pj, write_pj, source, extrapolated) per access of the level's word; None for an
        auto-sized SRAM, whose energy depends on each layer's working set."""
        t, bits = self.table, self._word_bits(level)
        named = {k.lower(): k for k in t.components}
        if level.name.lower() in named:  # an Accelergy ERT as the energy table names this level
            c = t.components[named[level.name.lower()]]
            return c["read"], c["write"], f"{t.sram_source}: {named[level.name.lower()]}", False
        needs_table = (level.kind == "dram" and level.dram_type == drams.TABLE) or (
            level.kind != "dram" and level.energy["kind"] in ("cacti", "register") and level.capacity_bytes is not None)
        if t.is_ert and needs_table:
            raise UserError(f"energy table {t.origin} (an Accelergy ERT) has no component named '{level.name}' for "
                            f"the {level.kind} level of architecture {self.arch.name}: name one after the level, with "
                            f"read and write actions (memory components in the file: "
                            f"{', '.join(t.components) or 'none'}). {t.arch_hint()}")
        if level.kind == "dram":
            if level.dram_type == drams.TABLE:
                return (t.dram_access_pj(bits),) * 2 + (f"energy table {t.name}: {t.dram_pj_per_bit:g} pJ/bit",
                                                        False)
            d = drams.dram_type(level.dram_type)
            return d.pj_per_bit * bits, d.pj_per_bit * bits, f"{d.name} {d.pj_per_bit:g} pJ/bit ({d.source})", False
        e = level.energy
        if e["kind"] == "cacti":
            if level.capacity_bytes is None:
                t.sram_rows_for(self._cell(level), bits)  # a missing cell or ERT rows fail here
                return None, None, f"{t.sram_source}, {self._cell(level)}", False
            cap = level.capacity_bytes / level.banks
            read, write, extra = t.sram_access_pj(cap, bits, self._cell(level))
            banks = f" (one of {level.banks} banks)" if level.banks > 1 else ""
            return read, write, f"{t.sram_source}, {self._cell(level)}, {cap:,.0f} B{banks}", extra
        if e["kind"] == "register":
            per_bit, src = t.register_pj_per_bit, f"energy table {t.name}"
            if per_bit is None:
                self._need_node(level, f"{REGISTER_FALLBACK}'s register energy")
                ref = load_energy_table(REGISTER_FALLBACK)
                per_bit = ref.register_pj_per_bit * logic_factor(t, t.node_nm, t.own_vdd, self.arch.flavour,
                                                                 ref.node_nm, ref.own_vdd)
                src = f"{REGISTER_FALLBACK} (the table has no register energy), at {t.node_nm} nm"
            return per_bit * bits, per_bit * bits, f"register {per_bit:.4g} pJ/bit from {src}", False
        if e["kind"] == "relative_to_mac":
            mac = t.mac_pj(self.precision)
            return e["x"] * mac, e["x"] * mac, f"{e['x']:g} x one {self.precision} MAC ({mac:.4g} pJ)", False
        if e["kind"] == "given":
            if "node_nm" in e:
                self._need_node(level, f"the energy given at {e['node_nm']} nm")
                k = logic_factor(t, t.node_nm, t.own_vdd, self.arch.flavour, e["node_nm"], e["vdd"])
                return (e["read_pj"] * k, e["write_pj"] * k,
                        f"given at {e['node_nm']} nm {e['vdd']:g} V, scaled x {k:.4g}", False)
            return e["read_pj"], e["write_pj"], "given in the architecture file", False
        return e["read_pj"], e["write_pj"], e["source"], False  # an ERT entry

    def _need_node(self, level: Level, what: str) -> None:
        """An ERT that does not record its node cannot have other figures moved to it."""
        if self.table.node_nm is None:
            raise UserError(f"energy table {self.table.origin} (an Accelergy ERT) does not record the node its "
                            f"energies are for, so {what} of level '{level.name}' of architecture {self.arch.name} "
                            "cannot be moved to it: add attributes: {node_nm: NM, vdd: V} under the file's ERT key, "
                            "or a "
                            f"component named '{level.name}' with read and write actions")

    def _stationary_only(self, mapper: str):
        raise UserError(f"mapper '{mapper}' maps onto a processing-element array; architecture {self.arch.name} "
                        f"({self.arch.dataflow}) has none: use --mapper analytic, or an architecture with a "
                        f"stationary dataflow ({', '.join(STATIONARY)})")

    def _cell(self, level: Level) -> str:
        return level.cell or self.sram_cell

    def access_pj(self, level: str) -> tuple[float | None, float | None, str, bool]:
        """(read_pj, write_pj, source, extrapolated) of a level by name (None: sized per layer)."""
        return self._pj[level]

    def cell(self, level: Level) -> str:
        """The CACTI cell type of a level: its own, else the run's."""
        return self._cell(level)

    def _leakage(self, level: Level) -> tuple[float, bool]:
        """(watts, extrapolated) of all the level's instances and banks."""
        if level.kind == "dram":
            return 0.0, False
        mw, extra = self.table.sram_leakage_mw(level.capacity_bytes / level.banks, self._word_bits(level),
                                               self._cell(level))
        return mw * 1e-3 * level.banks * level.instances, extra

    # ----- a step ----------------------------------------------------------------------------
    def step(self, profile: "StepProfile") -> HardwareStep:
        """Price one counted step: the mapper's accesses per (layer, pass, level) x per-access
        energies, compute, latency, utilisation and leakage."""
        layers, passes, sums = [], [], {lv.name: [0.0, 0.0, 0.0] for lv in self.arch.levels}
        extra_at = {lv.name: False for lv in self.arch.levels}  # a level priced outside CACTI's data for some layer
        mac_pj = self.table.mac_pj(self.precision)
        updated = sum(layer.trainable_elems for layer in profile.layers)
        update_pj = compute_energy_pj(0, profile.update_mults, profile.update_adds, self.table, self.precision)
        # a mapper of MAC passes takes the whole step at once: its distinct layer-passes in one parallel batch
        mac_passes = (None if self.mapper is self._analytic else
                      self.mapper.map_layers([layer for layer in profile.layers if layer.train_macs], self.arch,
                                             self.bits))
        for layer in profile.layers:
            arch, comps = self._sized_for(layer)
            for pm in self._map(layer, arch, mac_passes):
                levels = {}
                for name, (reads, writes) in pm.levels.items():
                    level = self._by_name[name]
                    read, write, extra = self._layer_pj(level, comps)
                    extra_at[name] = extra_at[name] or extra
                    pack = self.bits / self._word_bits(level) if level.word_bits else 1
                    pj = (reads * read + writes * write) * pack
                    reads, writes = reads * pack, writes * pack
                    layers.append(LayerLevel(pm.layer, pm.pass_, name, reads, writes, pj * PJ,
                                             comps.get(name, (name,))[0]))
                    s = sums[name]
                    s[0], s[1], s[2] = s[0] + reads, s[1] + writes, s[2] + pj
                    levels[name] = (reads, writes, pj * PJ)
                compute = pm.macs * mac_pj
                if pm.pass_ == "update" and updated:
                    compute += update_pj * layer.trainable_elems / updated
                passes.append(PassResult(pm.layer, pm.pass_, pm.macs, compute * PJ, pm.latency_cycles,
                                         pm.utilisation, levels, pm.mapper))
        compute_j = compute_energy_pj(profile.train_macs, profile.update_mults, profile.update_adds, self.table,
                                      self.precision) * PJ
        levels = tuple(self._result(lv, *sums[lv.name], extra_at[lv.name]) for lv in self.arch.levels)
        cycles = sum(p.latency_cycles or 0 for p in passes)
        time_s = self.cycles_to_s(cycles) if self.arch.pes else None
        return HardwareStep(self.arch.name, compute_j, levels, tuple(layers), time_s,
                            any(lv.extrapolated for lv in levels), tuple(passes),
                            cycles if self.arch.pes else None, self.mapper_name,
                            self.area.total_mm2 if self.area else None, profile.train_macs, self.arch.pes)

    def cycles_to_s(self, cycles: float) -> float | None:
        return cycles / (self.arch.clock_mhz * 1e6) if self.arch.clock_mhz else None

    def _map(self, layer, arch: Architecture, mac_passes: dict[str, list[PassMapping]] | None) -> list[PassMapping]:
        """The mapper's passes (`mac_passes`: a mapper of MAC passes' answers for the step, by
        layer); such a mapper leaves the update and the parameters outside the GEMMs to the
        analytic model (marked as such)."""
        if mac_passes is None:
            return self._analytic.map_layer(layer, arch, self.bits)
        merged: dict[str, PassMapping] = {}
        for pm in [*mac_passes.get(layer.name, []),
                   *self._analytic.non_mac_passes(layer, arch, self.bits)]:
            have = merged.get(pm.pass_)
            if have is None:
                merged[pm.pass_] = pm
                continue
            levels = dict(have.levels)
            for name, (r, w) in pm.levels.items():
                r0, w0 = levels.get(name, (0, 0))
                levels[name] = (r0 + r, w0 + w)
            cycles = have.latency_cycles + pm.latency_cycles  # streamed after the MACs
            macs = have.macs + pm.macs
            util = macs / (cycles * arch.pes) if arch.pes and cycles else None
            merged[pm.pass_] = PassMapping(pm.layer, pm.pass_, levels, macs, cycles, util,
                                           f"{have.mapper}+{pm.mapper}")
        return list(merged.values())

    def _sized_for(self, layer) -> tuple[Architecture, dict[str, tuple[str, int]]]:
        """The architecture with its auto-sized SRAM (or --sram-bytes) sized for this layer, and
        {level: (component name, bytes)} of what was sized: layer_buffer's by the layer's working
        set, weights_only's by its weights (the smallest CACTI capacity holding it)."""
        if not self._auto:
            return self.arch, {}
        level = self._auto
        rows, _ = self.table.sram_rows_for(self._cell(level), self._word_bits(level))
        caps = [r[0] for r in rows]
        if self.sram_bytes:
            cap = self.sram_bytes
        elif self.arch.dataflow == "layer_buffer":
            cap = auto_sram_bytes(working_set_words(layer) * self.bits // 8, caps)
        else:
            need = layer.weight_elems * self.bits // 8
            cap = need if need > caps[-1] else auto_sram_bytes(need, caps)
        sized = replace(level, capacity_bytes=cap)
        arch = replace(self.arch, levels=tuple(sized if lv is level else lv for lv in self.arch.levels))
        return arch, {level.name: (f"{level.name}_{cap}B", cap)}

    def sized_bytes(self, layer) -> int | None:
        """The bytes an auto-sized (or --sram-bytes) SRAM level takes for this layer; None: none is sized."""
        comps = self._sized_for(layer)[1]
        if comps:
            return next(iter(comps.values()))[1]
        return self.arch.levels[0].capacity_bytes if self.arch.dataflow == "layer_buffer" else None

    def _layer_pj(self, level: Level, comps: dict) -> tuple[float, float, bool]:
        """(read_pj, write_pj, extrapolated) of a level for one layer (auto-sized: at its size)."""
        read, write, _, extra = self._pj[level.name]
        if read is not None:
            return read, write, extra
        cap = comps[level.name][1]
        if cap not in self._sized_pj:
            self._sized_pj[cap] = self.table.sram_access_pj(cap, self._word_bits(level), self._cell(level))
        return self._sized_pj[cap]

    def _result(self, level: Level, reads, writes, energy_pj, extra) -> LevelResult:
        read, write, source, level_extra = self._pj[level.name]
        leak, leak_extra = self._leak.get(level.name, (0.0, False))
        return LevelResult(level.name, level.kind, reads, writes, energy_pj * PJ, read, write, leak, source,
                           extra or level_extra, leak_extra)

    # ----- provenance ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Where every figure comes from: node, supply, table, architecture, per-level energies."""
        t = self.table
        return {
            "node_nm": t.node_nm, "vdd": t.own_vdd, "energy_table": t.label(self.precision),
            "scaling": list(t.scaling) or [f"the table's own figures ({t.where()})"],
            "architecture": self.arch.describe(),
            "leakage": self.arch.leakage if self.leakage_on or self.arch.leakage == "off" else self.leakage_note,
            "mapper": self.mapper_name,
            "area_mm2": self.area.total_mm2 if self.area else None,
            "area": ({"pe_mm2": self.area.pe_mm2, "levels": self.area.levels, "source": AREA_SOURCE +
                      ", CACTI 7 area_mm2, Aladdin register area (cost/area.py)"} if self.area else None),
            "levels": [{"name": lv.name, "kind": lv.kind, "read_pj": self._pj[lv.name][0],
                        "write_pj": self._pj[lv.name][1], "source": self._pj[lv.name][2],
                        "leakage_w": self._leak.get(lv.name, (None,))[0]} for lv in self.arch.levels],
        }
