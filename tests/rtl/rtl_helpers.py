"""Helpers shared by the RTL tests: hand-written netlists and stimulus."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from energybench.rtl.simulate import pack

TINY_LIB = Path(__file__).parent / "tiny.lib"
# The CI-sized characterisation: enough widths to fit exponents, few vectors (~30 s).
REDUCED_WIDTHS = [8, 16, 32]
REDUCED_VECTORS = 256


def yosys_json(ports: dict[str, tuple[str, list]], cells: list[tuple[str, dict[str, object]]]) -> dict:
    """A module "top" in Yosys write_json form; cells are (type, {pin: bit})."""
    return {
        "modules": {
            "top": {
                "ports": {name: {"direction": d, "bits": bits} for name, (d, bits) in ports.items()},
                "cells": {
                    f"c{i}": {"type": kind, "connections": {pin: [bit] for pin, bit in pins.items()}}
                    for i, (kind, pins) in enumerate(cells)
                },
            }
        }
    }


def stimulus(*columns: str) -> np.ndarray:
    """Packed (1, cycles, words) stimulus of one bit: one string per lane, one char per cycle."""
    bits = np.array([[c == "1" for c in col] for col in columns]).T  # (cycles, lanes)
    return pack(bits[None])
