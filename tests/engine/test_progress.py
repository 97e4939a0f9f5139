"""The run's progress: the estimate of what is left comes from the rate at which phases finish,
not from the start-up before the first one, nor from workers' first phases finishing together."""

from __future__ import annotations

import pytest

from energybench.engine import progress
from energybench.engine.progress import RunProgress, duration


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    return now


def test_the_estimate_leaves_out_the_start_up_and_waits_for_three_phases(clock):
    lines = []
    run = RunProgress(phases=12, cells=4, bar=False, log=lines.append)
    clock[0] = 110.0  # 10 s of start-up (a Ray cluster's workers importing torch) before the first phase
    run.phase_done("a")
    clock[0] = 110.1  # the second worker's first phase, at about the same time
    run.phase_done("b")
    assert run.eta() is None and lines == ["a [1/12 phases, 0/4 cells, 10s elapsed]",
                                           "b [2/12 phases, 0/4 cells, 10s elapsed]"]
    clock[0] = 114.0  # then a phase every 2 s: (114 - 110) / 2 phases = 2 s each, 9 left
    run.phase_done("c", cell_finished=True)
    assert run.eta() == pytest.approx(18.0)
    assert lines[2:] == ["c [3/12 phases, 1/4 cells, 14s elapsed, about 18s left]",
                         "estimated duration: about 32s in total (from the first 3 phases; refined as the run goes on)"]
    clock[0] = 116.0
    run.phase_done("d")
    assert run.eta() == pytest.approx(6 / 3 * 8)
    assert lines[4] == "d [4/12 phases, 1/4 cells, 16s elapsed, about 16s left]" and len(lines) == 5  # announced once
    # the old estimate, every second since the start over the phases done: (116 - 100) / 4 * 8 = 32 s


def test_a_run_of_two_phases_gives_no_estimate(clock):
    lines = []
    run = RunProgress(phases=2, cells=1, bar=False, log=lines.append)
    for t in (103.0, 104.0):
        clock[0] = t
        run.phase_done("x")
    assert not any("estimated" in line or "left" in line for line in lines)


@pytest.mark.parametrize("seconds,text", [(0.4, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3600 * 2 + 59, "2h00m")])
def test_durations_read_as_people_write_them(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("seeds, promised", [("0", False), ("0,1", True)])
def test_the_plan_promises_an_estimate_only_when_one_will_come(tmp_path, capsys, seeds, promised):
    """finetune at one level on B4-3x2 trains 3 phases a seed: with one seed the run ends at the third
    phase, before any estimate is given, so the plan line says nothing of one."""
    from energybench.cli import main

    assert main(["run", "--method", "finetune", "--sharing", "0", "--seed", seeds, "--epochs", "1", "--no-report",
                 "--no-power", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    plan = next(line for line in (out.out + out.err).splitlines() if "phase(s) to train" in line)
    assert ("finished phases give an estimate" in plan) is promised
    assert ("estimated duration: about" in out.out + out.err) is promised
