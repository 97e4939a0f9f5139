"""Mappers: who says how each (layer, pass) runs on an architecture (cost/mapping.py's
PassMapping). `analytic` (the default, mappers/analytic.py) is a closed-form model; `zigzag`
(mappers/zigzag.py, the optional extra energybench[zigzag]) searches mappings with ZigZag.
Every mapper answers `map_layer(layer, arch, value_bits) -> list[PassMapping]`. A mapper of MAC
passes only (ZigZag) also answers `map_layers(layers, arch, value_bits) -> {layer name: [...]}` for a
whole step at once and searches with the HardwareModel set as its `hardware`; the pricing engine
(level_energy.py) sets that to itself, asks for each step in one batch, adds the analytic model's
update and streamed parameters, and turns the answers into joules, latency and area."""

from __future__ import annotations

from importlib import import_module

from energybench.errors import UserError, canonical

MAPPERS = ("analytic", "zigzag")
DEFAULT_MAPPER = "analytic"
_MODULES = {"analytic": ("energybench.cost.mappers.analytic", "AnalyticMapper"),
            "zigzag": ("energybench.cost.mappers.zigzag", "ZigZagMapper")}
ZIGZAG_INSTALL = "pip install 'energybench[zigzag]'"


def check_mapper(name: str | None) -> str:
    """The mapper's canonical name; UserError naming the valid ones."""
    if name is None:
        return DEFAULT_MAPPER
    got = canonical(str(name).strip(), MAPPERS)
    if got not in MAPPERS:
        raise UserError(f"unknown mapper '{name}'; valid mappers: {', '.join(MAPPERS)}")
    return got


def get_mapper(name: str | None = None):
    """An instance of the named mapper; the ZigZag one is imported only when asked for."""
    name = check_mapper(name)
    module, cls = _MODULES[name]
    try:
        mod = import_module(module)
    except ImportError as exc:  # the optional extra (zigzag-dse and what it needs) is missing
        raise UserError(f"mapper '{name}' needs ZigZag, which is not installed ({exc}): {ZIGZAG_INSTALL}") from None
    return getattr(mod, cls)()
