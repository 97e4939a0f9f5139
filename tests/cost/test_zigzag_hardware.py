"""An architecture file as ZigZag's hardware description, and the disk cache (no ZigZag needed)."""

from __future__ import annotations

import json

import pytest

from energybench.cost.hardware import build_hardware
from energybench.cost.zigzag import cache
from energybench.cost.zigzag import hardware as zh
from energybench.errors import UserError


def test_eyeriss_levels_keep_energybench_energies():
    """Cost per ZigZag access = the level's per-word energy x words per access (the port's maximum
    bandwidth); the 512 B register file is one memory per PE shared by the three operands."""
    hw = build_hardware(arch="eyeriss_like")
    acc, level_of, words = zh.accelerator(hw, 32)
    mems = acc["memories"]
    assert list(mems) == ["rf", "glb", "dram"] and level_of == {"rf": "rf", "glb": "glb", "dram": "dram"}
    for name in mems:
        read_pj, write_pj, _, _ = hw.access_pj(name)
        assert mems[name]["r_cost"] == pytest.approx(read_pj * words[name])
        assert mems[name]["w_cost"] == pytest.approx(write_pj * words[name + ":w"])
    # rf: 3 reads + 1 write per MAC, plus one fill/drain: 4 and 2 words per cycle of 32 bits
    assert mems["rf"]["size"] == 512 * 8 and mems["rf"]["served_dimensions"] == []
    assert mems["rf"]["operands"] == ["I1", "I2", "O"]
    assert [(p["bandwidth_min"], p["bandwidth_max"]) for p in mems["rf"]["ports"]] == [(32, 128), (32, 64)]
    # rf costs one fp32 MAC per access (horowitz45: 3.7 + 0.9 pJ)
    assert mems["rf"]["r_cost"] == pytest.approx(4.6 * 4)
    # glb: 108 KB, the file's 12 words per cycle; DRAM: the file's 2 (Eyeriss's 64-bit bus)
    assert mems["glb"]["size"] == 110592 * 8 and words["glb"] == 12
    assert words["dram"] == 2 and mems["dram"]["r_cost"] == pytest.approx(8 * 32 * 2)  # 8 pJ/bit
    # without bandwidths in the file: rows + cols = 26 words per cycle; LPDDR4 12.8 GB/s at 200 MHz = 16
    from dataclasses import replace

    from energybench.cost.level_energy import HardwareModel

    free = replace(hw.arch, levels=tuple(replace(lv, bandwidth=None) for lv in hw.arch.levels))
    _, _, free_words = zh.accelerator(HardwareModel(hw.table, free), 32)
    assert free_words["glb"] == 26 and free_words["dram"] == 16
    assert acc["operational_array"]["sizes"] == [14, 12]
    assert acc["operational_array"]["unit_energy"] == pytest.approx(4.6)


def test_tpu_weight_register_becomes_three_registers():
    """A one-word register file holds the stationary weight; inputs and partial sums get one-word
    registers of their own at the same energy, all mapped back to the level's name."""
    hw = build_hardware(arch="tpu_like")
    acc, level_of, words = zh.accelerator(hw, 32)
    regs = {k: v for k, v in acc["memories"].items() if level_of[k] == "pe_regs"}
    assert {k: v["operands"] for k, v in regs.items()} == {"pe_regs_I2": ["I2"], "pe_regs_I1": ["I1"],
                                                           "pe_regs_O": ["O"]}
    assert all(v["size"] == 32 for v in regs.values())
    read_pj = hw.access_pj("pe_regs")[0]
    assert all(v["r_cost"] == pytest.approx(read_pj * 2) for v in regs.values())
    # the file's bandwidths: HBM 60 fp32 words per cycle, unified buffer 256 (128 + 128); 24 MiB
    assert words["hbm"] == 60 and words["unified_buffer"] == 256
    assert acc["memories"]["unified_buffer"]["size"] == 25165824 * 8


def test_mapping_unrolls_the_dataflow_dimensions():
    hw = build_hardware(arch="eyeriss_like")
    (entry, *_rest) = zh.mapping(hw.arch)
    assert entry["spatial_mapping_hint"] == {"D1": ["K"], "D2": ["C", "FY", "FX"]}
    assert entry["memory_operand_links"] == {"O": "O", "W": "I2", "I": "I1"}


def test_layer_buffer_is_refused_with_one_message():
    hw = build_hardware(arch="layer_buffer")
    with pytest.raises(UserError, match="stationary dataflows.*layer_buffer.*--mapper analytic"):
        zh.accelerator(hw, 32)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ENERGYBENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "energybench" / "zigzag"
    monkeypatch.setenv("ENERGYBENCH_CACHE", str(tmp_path / "eb"))
    assert cache.cache_dir() == tmp_path / "eb" / "zigzag"


def test_cache_round_trip_is_json_and_keyed_by_every_part(tmp_path):
    k = cache.key({"loop_sizes": [1, 2]}, {"mem": 1}, "3.9.1")
    assert k != cache.key({"loop_sizes": [1, 2]}, {"mem": 1}, "3.9.2")
    assert k != cache.key({"loop_sizes": [1, 3]}, {"mem": 1}, "3.9.1")
    assert k == cache.key({"loop_sizes": [1, 2]}, {"mem": 1}, "3.9.1")
    assert cache.get(k, tmp_path) is None
    cache.put(k, {"latency_cycles": 5.0}, tmp_path)
    path = tmp_path / k[:2] / f"{k}.json"
    assert json.loads(path.read_text()) == {"latency_cycles": 5.0}
    assert cache.get(k, tmp_path) == {"latency_cycles": 5.0}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    path.write_text("{not json")  # a damaged entry is mapped again, not trusted
    assert cache.get(k, tmp_path) is None


def test_bandwidth_from_the_architecture_file_is_one_read_write_port():
    """A level's bandwidth (words of its own word per cycle, reads and writes together) becomes one
    read-write port of that many values; 12 64-bit words are 24 fp32 values per access."""
    from types import SimpleNamespace

    arch = build_hardware(arch="eyeriss_like").arch
    glb = SimpleNamespace(kind="sram", bandwidth=12, word_bits=64, reads_per_mac=0, writes_per_mac=0)
    assert zh.bandwidth_words(glb, arch, 32) == (24.0, 24.0, True)
    mem, r_per, w_per = zh._memory(1024, 2.0, 3.0, 32, 24.0, 24.0, True, ["I1", "I2", "O"], ["D1", "D2"])
    assert [(p["name"], p["type"], p["bandwidth_min"], p["bandwidth_max"]) for p in mem["ports"]] == [
        ("rw_port_1", "read_write", 32, 768)]
    assert (r_per, w_per, mem["r_cost"], mem["w_cost"]) == (24.0, 24.0, 48.0, 72.0)


def test_cost_without_the_extra_names_the_install_command(monkeypatch, capsys, tmp_path):
    """`cost --mapper zigzag` where zigzag-dse cannot be imported (installed or not): exit 2, one
    line naming the install command, before anything is written."""
    import builtins

    from energybench.cli import main

    real = builtins.__import__

    def no_zigzag(name, *args, **kwargs):
        if name == "zigzag" or name.startswith("zigzag."):
            raise ImportError("No module named 'zigzag'", name="zigzag")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zigzag)
    f = tmp_path / "actions.yaml"
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", "eyeriss_like", "--mapper", "zigzag",
                 "--export-actions", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("the zigzag mapper needs ZigZag (zigzag-dse) and six, which are not "
                                             "installed (zigzag is missing): pip install 'energybench[zigzag]'")
    assert not f.exists()
