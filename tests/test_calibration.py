"""Modelled against measured energy: the line through the origin and its R^2 by hand, a known
slope recovered from synthetic phases, the savings of each sharing level side by side, and the
block's reasons when it cannot be drawn."""

from __future__ import annotations

import math

import pytest

from energybench.calibration import fit_through_origin
from energybench.results import frame, summarise


def test_fit_through_origin_by_hand():
    fit = fit_through_origin([1, 2, 3, 4], [2.1, 3.9, 6.2, 7.8])
    # slope = sum(xy) / sum(x^2) = 59.7 / 30; residuals 0.11, -0.08, 0.23, -0.16 -> SS_res 0.097;
    # mean y 5.0 -> SS_tot 18.9
    assert fit["slope"] == pytest.approx(1.99)
    assert fit["r2"] == pytest.approx(1 - 0.097 / 18.9)
    assert fit["points"] == 4


def test_a_line_through_the_origin_that_fits_worse_than_the_mean_has_negative_r2():
    fit = fit_through_origin([1, 2, 3], [10, 10, 10.5])  # an offset the origin cannot explain
    assert fit["slope"] == pytest.approx((10 + 20 + 31.5) / 14)
    assert fit["r2"] < 0


@pytest.mark.parametrize("x, y, points", [([1.0], [2.0], 1), ([0.0, 0.0], [1.0, 2.0], 2),
                                          ([1.0, float("nan")], [2.0, 3.0], 1)])
def test_no_fit_without_two_usable_points(x, y, points):
    fit = fit_through_origin(x, y)
    assert math.isnan(fit["slope"]) and math.isnan(fit["r2"]) and fit["points"] == points


SLOPE = 2500.0  # joules measured per modelled joule
# per sharing level: (compute J, memory J) of phases 1 and 2; sharing saves modelled energy
MODELLED = {0.0: [(0.010, 0.006), (0.012, 0.008)], 0.5: [(0.006, 0.004), (0.007, 0.005)],
            0.8: [(0.003, 0.002), (0.004, 0.002)]}


def rows(measured_of, above_idle=True, levels=(0.0, 0.5, 0.8), seeds=(0, 1)):
    """Rows of a 'sharing' sweep: phase 0 (the same base training at every level, with a one-off
    start-up cost the model does not have), then two incremental phases per level."""
    out = []
    for seed in seeds:
        for s in levels:
            base = dict(method="sharing", sharing=s, seed=seed, phase=0, acc_all=90.0, iters=10,
                        compute_energy_j=0.02, memory_energy_j=0.01, measured_energy_j=500.0)
            phases = [base] + [dict(method="sharing", sharing=s, seed=seed, phase=p, acc_all=80.0 - 10 * s, iters=10,
                                    compute_energy_j=c, memory_energy_j=m,
                                    measured_energy_j=measured_of(c + m, seed, p) + 100.0)
                               for p, (c, m) in enumerate(MODELLED[s], start=1)]
            for r in phases:
                if above_idle:  # idle 50 W over 2 s of every phase
                    r["measured_energy_above_idle_j"] = r["measured_energy_j"] - 100.0
                    r["idle_power_w"] = 50.0
                out.append(r)
    return out


def test_a_known_slope_is_recovered_from_synthetic_phases():
    block = summarise(frame(rows(lambda e, seed, p: SLOPE * e)), 1.0)["modelled_vs_measured"]
    assert block["available"] and block["measured"] == "measured_energy_above_idle_j"
    fit = block["fit"]
    assert fit["slope_j_per_modelled_j"] == pytest.approx(SLOPE) and fit["r2"] == pytest.approx(1.0)
    assert fit["points"] == 6  # 3 levels x 2 incremental phases; phase 0 (400 J above idle) is left out
    base = [p for p in block["points"] if p["phase"] == 0]
    assert base == [{"method": "sharing", "sharing": 0.0, "phase": 0, "modelled_j": pytest.approx(0.03),
                     "measured_j": 400.0, "seeds": 2, "fitted": False}]  # once, not once per level
    s5 = block["savings"]["sharing"]["0.5"]
    # incremental totals: 0.036 J modelled at sharing 0, 0.022 J at 0.5
    assert s5["modelled_j"] == pytest.approx(0.022) and s5["measured_j"] == pytest.approx(SLOPE * 0.022)
    assert s5["modelled_saving_x"] == pytest.approx(0.036 / 0.022)
    assert s5["measured_saving_x"] == pytest.approx(0.036 / 0.022)
    assert block["savings"]["sharing"]["0"]["measured_saving_x"] == 1.0


def test_noise_lowers_r2_and_the_slope_is_the_least_squares_one():
    noise = {(0, 1): 1.1, (0, 2): 0.9, (1, 1): 1.0, (1, 2): 1.0}  # +-10% on seed 0's phases
    block = summarise(frame(rows(lambda e, seed, p: SLOPE * e * noise[seed, p])), 1.0)["modelled_vs_measured"]
    pts = [(p["modelled_j"], p["measured_j"]) for p in block["points"] if p["fitted"]]
    # each point is the mean over the two seeds: modelled e, measured SLOPE * e * (1.05 or 0.95)
    assert sorted(m / (SLOPE * e) for e, m in pts) == pytest.approx([0.95] * 3 + [1.05] * 3)
    xy = sum(e * m for e, m in pts)
    xx = sum(e * e for e, _ in pts)
    assert block["fit"]["slope_j_per_modelled_j"] == pytest.approx(xy / xx)
    assert 0.9 < block["fit"]["r2"] < 1.0


def test_measured_savings_need_positive_energy_above_idle():
    # at sharing 0.8 the phases measure nothing above idle (within the baseline's noise)
    block = summarise(frame(rows(lambda e, seed, p: SLOPE * e if e > 0.006 else -0.5)), 1.0)["modelled_vs_measured"]
    s8 = block["savings"]["sharing"]["0.8"]
    assert s8["measured_j"] == pytest.approx(-1.0) and math.isnan(s8["measured_saving_x"])
    assert s8["modelled_saving_x"] == pytest.approx(0.036 / 0.011)


def test_without_an_idle_baseline_the_total_is_compared_and_the_block_says_so():
    block = summarise(frame(rows(lambda e, seed, p: SLOPE * e, above_idle=False)), 1.0)["modelled_vs_measured"]
    assert block["measured"] == "measured_energy_j"
    assert block["measured_basis"].startswith("total measured energy, idle included")


def test_without_a_sharing_0_level_there_are_no_savings():
    block = summarise(frame(rows(lambda e, seed, p: SLOPE * e, levels=(0.5, 0.8))), 1.0)["modelled_vs_measured"]
    assert block["savings"] == {} and block["savings_note"] == "no sharing-0 level to compare with for: sharing"
    assert block["fit"]["slope_j_per_modelled_j"] == pytest.approx(SLOPE)


def test_one_incremental_phase_is_not_a_fit():
    one = [r for r in rows(lambda e, seed, p: SLOPE * e, levels=(0.0,)) if r["phase"] < 2]
    block = summarise(frame(one), 1.0)["modelled_vs_measured"]
    assert block == {"available": False, "reason": "fewer than two phases have both modelled and measured energy "
                                                   "(1; phase 0 is not fitted), so there is no line to fit"}
