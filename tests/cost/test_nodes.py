"""Technology nodes and supply voltage: the Stillmaker-Baas factors, CACTI at every node, the
interpolation's leave-one-out error, energies falling at every node step, and clear errors."""

from __future__ import annotations

import math

import pytest

from energybench.cli import main
from energybench.cost import cacti, nodes
from energybench.cost.arch import builtin_architectures
from energybench.cost.hardware import build_hardware
from energybench.cost.tables import interpolate_sram, load_energy_table
from energybench.cost.technology import at_node
from energybench.errors import UserError

# Published coefficients (Stillmaker and Baas 2017), typed here as the oracle: E(V) = e2 V^2 + e1 V + e0
HP45 = (1.018, -0.3107, 0.1539)
HP7 = (0.1776, -0.09097, 0.02447)
HP32, HP20 = (0.8367, -0.4341, 0.1701), (0.373, -0.1582, 0.04104)


def poly(c, v):
    return c[0] * v * v + c[1] * v + c[2]


def test_energy_factor_is_the_ratio_of_the_published_polynomials():
    assert nodes.energy_factor(45, 0.9, 7, 0.7) == pytest.approx(poly(HP7, 0.7) / poly(HP45, 0.9), rel=1e-12)
    assert nodes.energy_factor(45, 0.9, 45, 1.0) == pytest.approx(poly(HP45, 1.0) / poly(HP45, 0.9), rel=1e-12)
    assert nodes.energy_factor(45, 0.9, 45, 0.9) == 1.0
    lp = nodes.energy_factor(45, 1.1, 7, 0.7, "lp")
    assert lp == pytest.approx((0.09365 * 0.49 - 0.03409 * 0.7 + 0.02043) / (1.103 * 1.21 - 0.362 * 1.1 + 0.2767))


def test_22nm_lies_between_32_and_20_in_log_node():
    t = math.log(32 / 22) / math.log(32 / 20)
    want = poly(HP32, 0.9) ** (1 - t) * poly(HP20, 0.9) ** t
    assert nodes.energy_factor(45, 0.9, 22, 0.9) == pytest.approx(want / poly(HP45, 0.9), rel=1e-12)
    assert nodes.nominal_vdd(22) == 0.9


def test_nominal_supplies_and_ranges():
    assert [nodes.nominal_vdd(n) for n in nodes.NODES] == [1.2, 1.1, 1.0, 0.9, 0.9, 0.85, 0.8, 0.75, 0.7]
    assert nodes.vdd_range(7) == (0.35, 0.77)  # half nominal to 1.1 x nominal
    assert nodes.vdd_range(90) == (0.6, 1.32)
    lo65 = nodes.vdd_range(65)[0]  # the fit's vertex, above half the nominal supply
    assert lo65 == pytest.approx(4.398 / (2 * 3.755), abs=1e-3)


@pytest.mark.parametrize("node", [20, 28, "7nm", 5, True])
def test_unknown_node_names_the_valid_ones(node):
    with pytest.raises(UserError,
                       match=r"unknown technology node .*valid nodes \(nm\): 90, 65, 45, 32, 22, 16, 14, 10, 7"):
        nodes.check_node(node)


def test_voltage_outside_the_range_names_it():
    with pytest.raises(UserError, match=r"supply voltage 1.0 V is outside the range of the 7 nm node \(HP devices\): "
                                        r"valid 0.35-0.77 V, nominal 0.7 V"):
        nodes.check_vdd(7, 1.0)
    assert nodes.check_vdd(7, 0.6) == 0.6


def test_no_option_and_the_tables_own_node_change_nothing():
    table = load_energy_table()
    assert at_node(table) is table
    assert at_node(table, 45) is table and at_node(table, 45, 0.9) is table
    scaled = at_node(table, 45, 1.0)
    assert scaled.op_pj("fp32", "mult") == pytest.approx(3.7 * poly(HP45, 1.0) / poly(HP45, 0.9))
    assert scaled.sram_rows == table.sram_rows  # SRAM keeps its own (CACTI cell) supply
    assert scaled.label("fp32") == "horowitz45 at 45nm 1V"


def test_sram_rows_are_each_nodes_own_cacti_runs_and_22nm_scaled_below():
    t22 = at_node(load_energy_table(), 22)
    assert t22.sram_access_pj(65536, 32)[0] == 4.35895  # cacti_sram_nodes.csv, 22 nm itrs-lstp 64 KB 32-bit
    assert at_node(load_energy_table(), 90).sram_access_pj(4096, 64, "itrs-hp")[0] == 8.873
    k = cacti.scale_factor(7)
    assert k == pytest.approx(poly(HP7, 0.7) / nodes._energy(22, 0.9, "hp"))
    assert at_node(load_energy_table(), 7).sram_access_pj(65536, 32)[0] == pytest.approx(4.35895 * k)
    assert "22 nm x" in cacti.source(7) and cacti.source(32) == "CACTI 7 runs at 32 nm"


@pytest.mark.parametrize("node", [22, 32, 65])
def test_interpolation_leave_one_out_error_is_within_35_percent(node):
    """For each interior capacity of the grid, the log-log interpolation from its two neighbours
    (what a capacity between rows gets) stays within 35 % of CACTI's own figure there."""
    worst = 0.0
    for (cell, width), rows in cacti.energy_rows(node).items():
        for i in range(1, len(rows) - 1):
            cap, read, _ = rows[i]
            estimate, _, _ = interpolate_sram([rows[i - 1], rows[i + 1]], cap, width, width)
            worst = max(worst, abs(estimate / read - 1))
    assert 0.05 < worst < 0.35  # (a real check: CACTI's organisation changes make it far from 0)


@pytest.fixture(scope="module")
def step():
    from energybench.training.step_profile import profile_training_step

    return profile_training_step("resnet20", (3, 16, 16), 10, batch=2, sharing=0.3)[2]


@pytest.mark.parametrize("arch", builtin_architectures())
def test_compute_and_memory_energy_fall_at_every_node_step(step, arch):
    """90 -> 65 -> 45 -> 32 -> 22 -> 16 -> 14 -> 10 -> 7 nm, each at its default supply."""
    results = [build_hardware(node=n, arch=arch).step(step) for n in nodes.NODES]
    compute = [r.compute_j for r in results]
    memory = [r.memory_j for r in results]
    assert all(b < a for a, b in zip(compute, compute[1:])), compute
    assert all(b < a for a, b in zip(memory, memory[1:])), memory
    on_chip = [sum(lv.energy_j for lv in r.levels if lv.kind != "dram") for r in results]
    assert all(b < a for a, b in zip(on_chip, on_chip[1:]))


def test_seven_nm_figures_stated_in_the_readme():
    """The 7 nm figures the cost README compares with published ones (Jouppi et al., ISCA 2021)."""
    t = at_node(load_energy_table(), 7)
    assert t.op_pj("fp32", "mult") == pytest.approx(0.2532, abs=5e-5)  # published 1.31 pJ
    assert t.op_pj("int8", "mult") == pytest.approx(0.01368, abs=5e-6)  # published 0.07 pJ
    # published ~9.4 pJ (8.5 at 32 KB, 14 at 1 MB)
    assert t.sram_access_pj(65536, 64)[0] == pytest.approx(1.143, abs=5e-4)


@pytest.mark.parametrize("argv,message", [
    (["--node", "20"], "unknown technology node 20 nm; valid nodes (nm): 90, 65, 45, 32, 22, 16, 14, 10, 7"),
    (["--node", "7", "--vdd", "1.2"], "supply voltage 1.2 V is outside the range of the 7 nm node"),
    # one supply for several nodes: refused as run refuses it (each node has its own range)
    (["--node", "45,7", "--vdd", "0.7"], "one supply (0.7 V) cannot apply to several nodes (45, 7 nm): give one "
                                         "--node with --vdd, or leave --vdd out (each node's own supply)"),
])
def test_cost_rejects_a_bad_node_or_voltage(capsys, argv, message):
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_node_that_is_not_a_number_gets_the_valid_nodes_from_the_argument_parser(capsys):
    for command in (["cost", "--backbone", "tiny_cnn", "--input", "1x8x8"], ["run"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--node", "45,seven"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert ("argument --node: invalid int value: 'seven'; give one of the technology nodes 90, 65, 45, 32, 22, 16, "
                "14, 10, 7") in err and "Traceback" not in err


def test_run_rejects_a_bad_node_before_writing(tmp_path, capsys):
    assert main(["run", "--node", "28", "--out", str(tmp_path), "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "--node: unknown technology node 28 nm; valid nodes (nm): 90, 65" in err
    assert main(["run", "--node", "7", "--vdd", "0.2", "--out", str(tmp_path), "--quiet", "--no-report"]) == 2
    assert "valid 0.35-0.77 V" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
