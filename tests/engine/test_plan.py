"""A sweep's plan says where achieved sharing is far from the request, with the cuts that exist."""

from __future__ import annotations

import pytest

from energybench.engine.plan import plan_sweep

# tiny_cnn on 1x8x8, 10 classes: block parameters, by hand
# conv 1->16 3x3 (144) + BN 16 (32) = 176; conv 16->32 (4608) + BN (64) = 4672;
# conv 32->64 (18432) + BN (128) = 18560; linear 64->64 (4096 + 64) = 4160; 27568 in all
TOTAL = 176 + 4672 + 18560 + 4160
CUTS = [0.0, 176 / TOTAL, (176 + 4672) / TOTAL, (176 + 4672 + 18560) / TOTAL, 1.0]


def plan(levels):
    return plan_sweep(["finetune"], [0], levels, 3, "tiny_cnn", (1, 8, 8), 10, 1.0, False)


def test_the_plan_knows_the_backbones_cuts():
    assert plan([0.0]).cuts == pytest.approx(CUTS)


def test_a_request_more_than_5_points_from_its_cut_gets_a_notice_with_the_nearest_cuts():
    p = plan([0.0, 0.5, 0.18])
    assert p.achieved[0.5] == pytest.approx(CUTS[2])  # 0.176: 32.4 points below the request
    note = p.far_note()
    assert note == ("sharing 0.5 achieves 0.176 (nearest cuts: 0.176, 0.849): cuts fall on block boundaries, more "
                    "than 5 points from the request. This backbone's achievable fractions: 0.000, 0.006, 0.176, "
                    "0.849, 1.000")
    assert "0.18 " not in note  # 0.18 achieves 0.176: 0.4 points away, no notice


def test_requests_on_their_cuts_get_no_notice():
    assert plan([0.0, 0.176, 0.85]).far_note() is None


def test_run_warns_where_achieved_sharing_is_far_from_the_request(tmp_path, capsys):
    from energybench.cli import main

    code = main(["run", "--method", "finetune", "--sharing", "0,0.5", "--epochs", "1", "--train-per-class", "8",
                 "--test-per-class", "5", "--no-power", "--no-report", "--quiet", "--out", str(tmp_path),
                 "--run-id", "r"])
    err = capsys.readouterr().err
    assert code == 0, err
    # the default backbone on digits: 0.5 cuts where 17.6 % of its parameters are shared
    assert "energybench: warning: sharing 0.5 achieves 0.176 (nearest cuts: 0.176, 0.849): cuts fall on block " \
           "boundaries, more than 5 points from the request." in err
    import json

    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert [round(c, 3) for c in manifest["sharing_levels"]["achievable"]] == [0.0, 0.006, 0.176, 0.849, 1.0]
