"""`energybench cost` and `energybench energy-table`: figures, JSON keys, and clear errors."""

from __future__ import annotations

import json

import pytest

from energybench.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def cost_json(capsys, *argv):
    code, out, err = run(capsys, "cost", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


KEYS = ("forward_macs", "backward_input_macs", "backward_weight_macs", "update_ops", "train_step_macs", "mem_reads",
        "mem_writes", "compute_energy_j", "memory_energy_j", "storage_bytes", "total_params", "trainable_params",
        "sharing_requested", "sharing_achieved", "uncounted_ops", "energy_table", "precision")


def test_resnet18_forward_macs_on_meta(capsys):
    d = cost_json(capsys, "--backbone", "resnet18", "--input", "3x224x224", "--num-classes", "1000", "--device", "meta")
    assert all(k in d for k in KEYS)
    assert d["forward_macs"] == 1_814_073_344
    assert d["backward_input_macs"] + d["backward_weight_macs"] == 2 * d["forward_macs"] - d["layers"][0]["fwd_macs"]
    assert d["train_step_macs"] == d["forward_macs"] + d["backward_input_macs"] + d["backward_weight_macs"]
    assert d["total_params"] == d["trainable_params"] == 11_689_512
    assert d["storage_bytes"] == 4 * 11_689_512
    assert d["update_ops"] == 6 * 11_689_512  # SGD, momentum, weight decay: 6 ops per element
    assert d["energy_table"] == "horowitz45" and d["precision"] == "fp32"
    assert d["uncounted_ops"] == {} and d["layout_ops"]["aten.detach"] > 0  # ReLU, batch norm, ... are priced
    relu = next(r for r in d["layers"] if r["name"] == "backbone.blocks.0.2")  # the stem's ReLU: one compare each,
    assert relu["elementwise_fwd_ops"] == relu["elementwise_bwd_ops"] == 64 * 112 * 112  # forward and backward
    assert relu["elementwise_mem_writes"] == 2 * 64 * 112 * 112 and relu["mem_reads"] == 0


def test_resnet18_forward_macs_on_cpu(capsys):
    """The documented command exactly as a user types it (a real step on the CPU)."""
    d = cost_json(capsys, "--backbone", "resnet18", "--input", "3x224x224", "--num-classes", "1000")
    assert d["forward_macs"] == 1_814_073_344


def test_sharing_freezes_a_prefix(capsys):
    full = cost_json(capsys, "--backbone", "resnet20", "--input", "3x16x16", "--batch-size", "2")
    shared = cost_json(capsys, "--backbone", "resnet20", "--input", "3x16x16", "--batch-size", "2", "--sharing", "0.5")
    assert shared["sharing_requested"] == 0.5 and 0.3 < shared["sharing_achieved"] < 0.7
    assert shared["forward_macs"] == full["forward_macs"]
    assert shared["backward_weight_macs"] < full["backward_weight_macs"]
    assert shared["trainable_params"] < full["trainable_params"] == full["total_params"]
    assert shared["compute_energy_j"] < full["compute_energy_j"]
    assert shared["memory_energy_j"] < full["memory_energy_j"]
    frozen = [r for r in shared["layers"] if r["name"].startswith("backbone.blocks.0.")]
    assert frozen and all(r["bwd_input_macs"] == r["bwd_weight_macs"] == 0 for r in frozen)


def test_precision_table_and_sram_options(capsys):
    base = ["--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2"]
    fp32 = cost_json(capsys, *base)
    int8 = cost_json(capsys, *base, "--precision", "int8")
    aladdin = cost_json(capsys, *base, "--energy-table", "aladdin45")
    fixed = cost_json(capsys, *base, "--sram-bytes", "1024", "--sram-cell", "itrs-hp")
    assert int8["compute_energy_j"] == pytest.approx(fp32["compute_energy_j"] * 0.23 / 4.6, rel=0.1)
    assert int8["storage_bytes"] * 4 == fp32["storage_bytes"]
    assert aladdin["energy_table"] == "aladdin45" and aladdin["compute_energy_j"] > fp32["compute_energy_j"]
    assert fixed["sram_extrapolated"] and fixed["sram_cell"] == "itrs-hp"
    assert fixed["forward_macs"] == fp32["forward_macs"]


def test_text_output(capsys):
    code, out, err = run(capsys, "cost", "--backbone", "lenet", "--input", "1x28x28", "--sharing", "0.5")
    assert code == 0, err
    assert ("backbone.blocks.0.0" in out and "forward MACs" in out
            and "ops seen but neither counted nor priced: none" in out)
    assert "element-wise ops" in out and "layout ops" in out
    assert "horowitz45" in out


@pytest.mark.parametrize("argv,message", [
    (["--backbone", "alexnet", "--input", "3x32x32"],
     "unknown backbone 'alexnet' (did you mean 'lenet'?); valid backbones: tiny_cnn"),
    (["--backbone", "resnet20", "--input", "3x32"], "--input must be CxHxW"),
    (["--backbone", "resnet20", "--input", "3x0x32"], "--input must be CxHxW"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--sharing", "1"], "sharing must be in [0, 1), got 1.0"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--sharing", "-0.1"], "sharing must be in [0, 1)"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--batch-size", "0"], "--batch-size must be 1 or more"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--num-classes", "0"], "--num-classes must be 1 or more"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--precision", "fp64"], "no ops_pj entry for precision 'fp64'"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--sram-cell", "edram"], "unknown SRAM cell type 'edram'"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--sram-bytes", "0"], "--sram-bytes must be a positive"),
    (["--backbone", "resnet20", "--input", "3x32x32", "--energy-table", "nope.yaml"], "'nope.yaml' is neither a file"),
    (["--backbone", "resnet18", "--input", "3x32x32"], "use --batch-size 2 or more"),
    (["--backbone", "lenet", "--input", "1x8x8"], "lenet needs inputs of at least 16x16"),
    (["--backbone", "lenet", "--input", "1x28x28", "--cifar-stem"],
     "--cifar-stem does not apply to 'lenet'; backbones that take it: resnet18, resnet34, resnet101, vgg19"),
    (["--backbone", "resnet18", "--input", "3x32x32", "--width", "0.5"],
     "--width does not apply to 'resnet18' (torchvision's fixed widths); backbones that take --width: tiny_cnn"),
])
def test_bad_inputs_exit_2_with_a_clear_message(capsys, argv, message):
    code, out, err = run(capsys, "cost", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_broken_energy_table_exits_2(capsys, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("ops_pj:\n  fp32: {add: 1.0, mult: oops}\n")
    code, out, err = run(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--energy-table", str(f))
    assert code == 2 and str(f) in err and "ops_pj.fp32.mult must be a positive number" in err


def test_energy_table_json(capsys):
    code, out, err = run(capsys, "energy-table", "--sram-bytes", "100000", "--word-bits", "32", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["name"] == "horowitz45" and d["sources"] and d["sram_cell"] == "itrs-lstp"
    assert 17.8 < d["sram_read_pj"] < 25.31 and 13.4 < d["sram_write_pj"] < 16.9 and d["extrapolated"] is False
    assert d["mac_pj"]["fp32"] == pytest.approx(4.6)


def test_energy_table_extrapolation_is_flagged(capsys):
    code, out, err = run(capsys, "energy-table", "--sram-bytes", "1000", "--sram-cell", "itrs-hp")
    assert code == 0, err
    assert "EXTRAPOLATED" in out and "Horowitz" in out


def test_energy_table_user_file_keeps_extra_keys(capsys, tmp_path):
    f = tmp_path / "rtl.yaml"
    f.write_text("name: rtl\nsources: [synthesis]\nops_pj: {int8: {add: 0.04, mult: 0.25}}\nrtl: {cells: 12}\n")
    code, out, err = run(capsys, "energy-table", "--energy-table", str(f), "--precision", "int8", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["name"] == "rtl" and d["mac_pj"] == {"int8": pytest.approx(0.29)} and d["ignored_keys"] == ["rtl"]
    assert d["word_bits"] == 8


@pytest.mark.parametrize("argv,message", [
    (["--energy-table", "missing"], "neither a file nor a built-in table"),
    (["--precision", "fp64"], "no ops_pj entry for precision 'fp64'"),
    (["--sram-cell", "x"], "unknown SRAM cell type 'x'"),
    (["--sram-bytes", "-5"], "--sram-bytes must be a positive number of bytes, got -5"),
    (["--word-bits", "0"], "--word-bits must be 1 or more, got 0"),
    (["--word-bits", "-8"], "--word-bits must be 1 or more, got -8"),
])
def test_energy_table_bad_inputs(capsys, argv, message):
    code, out, err = run(capsys, "energy-table", *argv)
    assert code == 2 and message in err


RTL8 = "name: rtl-generic-45nm\nsources: [synthesis]\nops_pj: {int8: {add: 0.04, mult: 0.25}}\nrtl: {vectors: 8}\n"


def test_cost_names_the_table_each_precision_came_from(capsys, tmp_path):
    f = tmp_path / "rtl8.yaml"
    f.write_text(RTL8)
    base = ["--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2", "--energy-table", str(f)]
    assert cost_json(capsys, *base)["energy_table"] == "rtl-generic-45nm (fp32 from horowitz45)"
    assert cost_json(capsys, *base, "--precision", "int8")["energy_table"] == "rtl-generic-45nm"
    code, out, err = run(capsys, "cost", *base)
    assert code == 0, err
    assert "rtl-generic-45nm (fp32 from horowitz45) at fp32" in out
    code, out, err = run(capsys, "energy-table", "--energy-table", str(f), "--json")
    labels = json.loads(out)["labels"]
    assert labels["fp32"] == "rtl-generic-45nm (fp32 from horowitz45)" and labels["int8"] == "rtl-generic-45nm"


def test_sram_bytes_zero_reads_the_same_in_both_commands(capsys):
    _, _, cost_err = run(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sram-bytes", "0")
    _, _, table_err = run(capsys, "energy-table", "--sram-bytes", "0")
    message = "error: --sram-bytes must be a positive number of bytes, got 0\n"
    assert cost_err.endswith(message) and table_err.endswith(message)


def test_word_bits_beyond_cactis_rows_are_flagged_extrapolated(capsys):
    code, out, err = run(capsys, "energy-table", "--sram-bytes", "65536", "--word-bits", "128", "--json")
    assert code == 0, err
    wide = json.loads(out)
    _, out64, _ = run(capsys, "energy-table", "--sram-bytes", "65536", "--word-bits", "64", "--json")
    d64 = json.loads(out64)
    assert wide["extrapolated"] is True and wide["word_bits_extrapolated"] is True
    assert d64["extrapolated"] is False and d64["word_bits_extrapolated"] is False
    assert wide["sram_read_pj"] == pytest.approx(2 * d64["sram_read_pj"])
    code, out, err = run(capsys, "energy-table", "--sram-bytes", "65536", "--word-bits", "128")
    assert "EXTRAPOLATED outside CACTI's 32- and 64-bit words)" in out and "64-bit figures x 2" in out


def all_floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from all_floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_floats(v)


def test_json_figures_carry_no_float_noise(capsys):
    code, out, err = run(capsys, "energy-table", "--json")
    assert code == 0, err
    assert json.loads(out)["mac_pj"]["fp32"] == 4.6 and "4.6000000000000005" not in out  # 3.7 + 0.9
    d = cost_json(capsys, "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2")
    floats = list(all_floats(d))
    assert floats and all(float(f"{v:.12g}") == v for v in floats)


def test_memory_energy_states_the_dram_share(capsys):
    argv = ["--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2", "--sram-bytes", "1024"]
    d = cost_json(capsys, *argv)
    accesses = dram = 0.0
    for layer in d["layers"]:
        n = layer["mem_reads"] + layer["mem_writes"]
        share = max(0.0, 1 - 1024 / layer["working_set_bytes"]) if n else 0.0  # the part beyond the SRAM
        assert layer["dram_fraction"] == pytest.approx(share)
        accesses, dram = accesses + n, dram + share * n
    assert d["dram_access_fraction"] == pytest.approx(dram / accesses)
    assert d["dram_energy_j"] == pytest.approx(dram * 30.5 * 32 * 1e-12)  # horowitz45 DRAM, 32-bit words
    assert 0.5 < d["dram_access_fraction"] < 1
    code, out, err = run(capsys, "cost", *argv)
    share = d["dram_energy_j"] / d["memory_energy_j"]
    assert (f"working sets beyond it from DRAM: {d['dram_access_fraction']:.1%} of accesses, {share:.1%} "
            "of this energy") in out
    code, out, err = run(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2")
    assert "sized per layer up to 8 MB; no DRAM" in out


def test_one_frozen_block_is_singular(capsys):
    code, out, err = run(capsys, "cost", "--backbone", "lenet", "--input", "1x28x28", "--sharing", "0.5")
    d = cost_json(capsys, "--backbone", "lenet", "--input", "1x28x28", "--sharing", "0.5")
    assert d["shared_blocks"] == 1 and "(1 block frozen)" in out
    code, out, err = run(capsys, "cost", "--backbone", "resnet20", "--input", "3x16x16", "--batch-size", "2",
                         "--sharing", "0.5")
    assert "blocks frozen)" in out and "(1 block" not in out


def test_several_nodes_and_sharing_levels_make_one_table(capsys):
    base = ["--backbone", "resnet20", "--input", "3x16x16", "--batch-size", "2", "--sharing", "0,0.5",
            "--node", "45,22,7", "--arch", "tpu_like,layer_buffer"]
    d = cost_json(capsys, *base)
    rows = d["comparison"]
    assert [(r["architecture"], r["node_nm"], r["sharing"]) for r in rows] == [
        (a, n, s) for a in ("tpu_like", "layer_buffer") for n in (45, 22, 7) for s in (0.0, 0.5)]
    for first, other in zip(rows[::2], rows[1::2]):
        assert first["ratio_to_first_sharing"] == 1.0
        assert other["ratio_to_first_sharing"] == pytest.approx(first["dynamic_energy_j"] / other["dynamic_energy_j"],
                                                                rel=1e-9)
        assert other["dynamic_energy_j"] == pytest.approx(other["compute_energy_j"] + sum(other["levels"].values()),
                                                          rel=1e-9)
    assert list(rows[0]["levels"]) == ["pe_regs", "unified_buffer", "hbm"]
    code, out, err = run(capsys, "cost", *base)
    assert code == 0 and "architecture tpu_like" in out and " 22nm   0.9" in out and "ratio" in out


def test_energy_table_rows_name_where_their_figures_came_from(capsys, tmp_path):
    code, out, err = run(capsys, "energy-table", "--node", "7")
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()}
    assert "(from )" not in out
    for p in ("fp32", "fp16", "bf16", "int8", "int16", "int32"):
        assert rows[p].endswith("  (from horowitz45, scaled from 45 nm 0.9 V to 7 nm 0.7 V)"), rows[p]
    f = tmp_path / "mine.yaml"
    f.write_text("ops_pj: {int8: {add: 0.04, mult: 0.25}, fp32: {mult: 10.0}}\n")
    code, out, err = run(capsys, "energy-table", "--energy-table", str(f))
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()}
    assert rows["int8"].endswith("  (from mine.yaml)") and rows["fp16"].endswith("  (from horowitz45)")
    assert rows["fp32"].endswith("  (from mine.yaml, add from horowitz45)")
    code, out, err = run(capsys, "energy-table", "--energy-table", str(f), "--json", "--precision", "int8")
    assert json.loads(out)["op_sources"] == {"int8": "mine.yaml"}


@pytest.mark.parametrize("arch", ["EYERISS_LIKE", "Eyeriss_Like"])
def test_built_in_architectures_match_in_any_case(capsys, arch):
    d = cost_json(capsys, "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", arch)
    assert d["hierarchy"]["architecture"] == "eyeriss_like"
    code, out, err = run(capsys, "energy-table", "--arch", arch)
    assert code == 0 and "architecture eyeriss_like, per access" in out


def test_a_misspelt_architecture_gets_the_closest_name(capsys):
    code, out, err = run(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--arch", "eyeris_like")
    assert code == 2 and "'eyeris_like' is neither a file nor a built-in architecture (did you mean " \
                          "'eyeriss_like'?) (eyeriss_like, layer_buffer, paper_sharing, tpu_like)" in err


def test_the_device_matches_in_any_case(capsys):
    d = cost_json(capsys, "--backbone", "tiny_cnn", "--input", "1x8x8", "--device", "META")
    assert d["device"] == "meta" and d["forward_macs"] == 603_776
    with pytest.raises(SystemExit) as exit_:  # argparse's own error
        main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--device", "gpu"])
    assert exit_.value.code == 2 and "invalid choice: 'gpu' (choose from 'cpu', 'meta')" in capsys.readouterr().err


def test_the_comparison_shows_whole_level_names(capsys):
    code, out, err = run(capsys, "cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sharing", "0,0.5", "--arch",
                         "tpu_like")
    lines = out.splitlines()
    head = next(ln for ln in lines if ln.lstrip().startswith("node"))
    assert head.split() == ["node", "Vdd", "sharing", "compute", "pe_regs", "unified_buffer", "hbm", "dynamic",
                            "ratio", "leakage"]
    rows = [ln for ln in lines if ln.lstrip().startswith("45nm")]
    assert len(rows) == 2
    for name in ("unified_buffer", "hbm", "dynamic"):  # each figure ends where its column's name ends
        end = head.index(name) + len(name)
        assert all(r[end - 1] != " " and r[end] == " " for r in rows), name


def test_an_architecture_without_a_clock_gives_cycles_and_says_time_is_not_modelled(tmp_path, capsys):
    arch = tmp_path / "noclk.yaml"  # clock_mhz is optional: cycles need the array alone
    arch.write_text("name: noclk\ndescription: d\nsources: [s]\ndataflow: weight_stationary\n"
                    "array: {rows: 4, cols: 4}\nlevels:\n"
                    "  - {name: buf, kind: sram, capacity_bytes: 4096, energy: cacti}\n"
                    "  - {name: dram, kind: dram, type: DDR4}\n")
    argv = ("--backbone", "tiny_cnn", "--input", "3x8x8", "--batch-size", "2", "--arch", str(arch))
    d = cost_json(capsys, *argv)
    assert d["latency_cycles"] > 0 and d["latency_s"] is None and d["edp_js"] is None
    code, out, err = run(capsys, "cost", *argv)
    assert code == 0, err
    line = next(line for line in out.splitlines() if "modelled step" in line)
    assert f"{d['latency_cycles']:,.0f} cycles = time not modelled (the architecture gives no clock_mhz)" in line
    assert "EDP" not in line and f"{d['tops_per_w']:.4g} TOPS/W" in line


def test_only_the_level_priced_outside_cactis_data_is_flagged_extrapolated(capsys):
    """--sram-bytes 100 is below CACTI's 4 KB: the buffer is extrapolated, the DRAM (the energy table's
    pJ/bit) is not; the text says the buffer is fixed by --sram-bytes, not sized per layer."""
    argv = ("--backbone", "tiny_cnn", "--input", "3x32x32", "--sram-bytes", "100")
    levels = {lv["name"]: lv for lv in cost_json(capsys, *argv)["hierarchy"]["levels"]}
    assert levels["buffer"]["extrapolated"] is True and levels["dram"]["extrapolated"] is False
    code, out, err = run(capsys, "cost", *argv)
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert "100 B for every layer (--sram-bytes)" in lines["buffer"] and lines["buffer"].endswith("(EXTRAPOLATED)")
    assert "EXTRAPOLATED" not in lines["dram"] and "30.5 pJ/bit" in lines["dram"]
    assert "sized per layer" in next(line for line in run(capsys, "cost", *argv[:4])[1].splitlines()
                                     if line.startswith("  buffer"))
