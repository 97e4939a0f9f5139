"""A run people trust with days of compute: checkpoints never run code, a run directory has one
writer at a time, bad output locations and full disks end with a clear message and a run that
resumes to the same numbers, a resumed summary equals an unbroken one, and levels that land on
the same cut are trained once."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from energybench.cli import main
from energybench.engine.cell import CellWork
from energybench.engine.checkpoint import checkpoint_bytes, load_checkpoint
from energybench.engine.lock import RunLock
from energybench.files import atomic_write

# 0.2: a level this backbone achieves within 5 points (0.176), so stderr holds only the message under test
TINY = ["--method", "finetune,sharing", "--sharing", "0,0.2", "--epochs", "1", "--train-per-class", "12",
        "--test-per-class", "6", "--no-power", "--no-report", "--quiet"]
TIMING = ("train_time_s", "time_per_iter_s", "train_cpu_s", "cpu_time_per_iter_s", "total_train_time_s",
          "total_train_cpu_s")


def run(tmp_path, *argv, run_id="r"):
    return main(["run", *TINY, *argv, "--out", str(tmp_path), "--run-id", run_id])


def without_timing(obj):
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING}
    return obj


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


# ----- checkpoints from other people never run code ------------------------------------------------
class Planted:
    """A pickle that would create a file when loaded (what a crafted checkpoint could do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"method": Planted(marker), "row": {}, "accs": [1.0]}, protocol=2))


def test_a_crafted_base_checkpoint_is_refused_and_runs_nothing(tmp_path, capsys):
    assert run(tmp_path, "--method", "finetune", "--sharing", "0", run_id="a") == 0
    root, marker = tmp_path / "a", tmp_path / "pwned"
    # The same run again into the same directory reuses its base: a planted file there is read.
    (root / "metrics.csv").unlink()
    plant(root / "cells" / "finetune_seed0_base.pt", marker)
    capsys.readouterr()
    assert run(tmp_path, "--method", "finetune", "--sharing", "0", run_id="a") == 2
    err = capsys.readouterr().err
    assert "finetune_seed0_base.pt was refused" in err and "Nothing in it was run" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not marker.exists()


def test_a_crafted_progress_checkpoint_is_refused_on_resume(tmp_path, capsys, monkeypatch):
    phase, marker = CellWork.phase, tmp_path / "pwned"

    def stop_at_phase_2(self, method, trainer, ph, *a, **k):
        if ph.index == 2:
            raise KeyboardInterrupt
        return phase(self, method, trainer, ph, *a, **k)

    monkeypatch.setattr(CellWork, "phase", stop_at_phase_2)
    assert run(tmp_path, "--method", "finetune", "--sharing", "0", run_id="p") == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    progress = tmp_path / "p" / "cells" / "finetune_s0_seed0" / "progress.pt"
    assert progress.is_file()
    plant(progress, marker)
    capsys.readouterr()
    assert main(["run", "--resume", str(tmp_path / "p"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "progress.pt was refused" in err and "Traceback" not in err
    assert not marker.exists()


# A well-formed torch file that is not what energybench writes: refused like a crafted one, not a KeyError later.
def other_method(path: Path) -> None:
    shutil.copy(path.parent / "sharing_seed0_base.pt", path)


@pytest.mark.parametrize("write,why", [
    (lambda p: torch.save({"foo": torch.zeros(3)}, p), "it holds a mapping of 'foo', not a checkpoint's table"),
    (lambda p: torch.save([1, 2, 3], p), "it holds list, not a checkpoint's table"),
    (lambda p: p.write_bytes(checkpoint_bytes({"foo": torch.zeros(3)})),
     "no 'method', 'row', 'group_acc', 'confusion' in it"),
    (lambda p: p.write_bytes(checkpoint_bytes([1, 2, 3])), "it holds list, not the mapping of a base checkpoint"),
    (other_method, "it holds the method 'sharing', not 'finetune'"),
])
def test_a_base_checkpoint_of_another_structure_is_refused(tmp_path, capsys, write, why):
    assert run(tmp_path, run_id="a") == 0
    root = tmp_path / "a"
    (root / "metrics.csv").unlink()  # so that the resume reads the bases again
    base = root / "cells" / "finetune_seed0_base.pt"
    write(base)
    capsys.readouterr()
    assert main(["run", "--resume", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"energybench run: error: {base} was refused: it is not a checkpoint energybench wrote, or it was "
                   f"altered ({why}). Nothing in it was run. Delete it to recompute that part of the run\n")


@pytest.fixture
def cut(tmp_path, monkeypatch) -> Path:
    """A run stopped in finetune's phase 2 at sharing 0: its progress.pt holds the state after phase 1."""
    phase = CellWork.phase

    def stop_at_phase_2(self, method, trainer, ph, *a, **k):
        if ph.index == 2:
            raise KeyboardInterrupt
        return phase(self, method, trainer, ph, *a, **k)

    monkeypatch.setattr(CellWork, "phase", stop_at_phase_2)
    assert run(tmp_path, run_id="cut") == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    return tmp_path / "cut"


def edited(change):
    """Rewrite a real progress.pt with one entry changed."""
    def write(path: Path) -> None:
        from energybench.engine.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        change(state)
        path.write_bytes(checkpoint_bytes(state))
    return write


@pytest.mark.parametrize("write,why", [
    (lambda p: p.write_bytes(checkpoint_bytes({"foo": torch.zeros(3)})),
     "no 'method', 'history', 'accs', 'trainer_rng', 'torch_rng' in it"),
    # each of these passed the old loader and then failed in torch.set_rng_state, or trained from the wrong phase
    (edited(lambda s: s.update(torch_rng=s["torch_rng"].float())),
     "its 'torch_rng' is a float32 tensor of shape (5056,), not a random generator state"),
    (edited(lambda s: s.update(accs=[])), "its 'accs' is [], not a non-empty list of accuracies"),
    (edited(lambda s: s["accs"].pop()), "its 'history' has 2 phases and its 'accs' 1"),
    (edited(lambda s: s.update(cell={"method": "finetune"})),
     "its 'cell' is {'method': 'finetune'}, not a cell (method, sharing, seed)"),
])
def test_a_progress_checkpoint_of_another_structure_is_refused_and_deleting_it_recomputes(cut, tmp_path, capsys,
                                                                                          write, why):
    progress = cut / "cells" / "finetune_s0_seed0" / "progress.pt"
    write(progress)
    capsys.readouterr()
    assert main(["run", "--resume", str(cut), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"energybench run: error: {progress} was refused: it is not a checkpoint energybench wrote")
    assert why in err and err.endswith("Delete it to recompute that part of the run\n") and err.count("\n") == 1
    progress.unlink()  # as the message says: the cell is trained again from its saved base
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    same_rows(cut, unbroken(tmp_path))


def test_a_progress_checkpoint_in_another_cells_folder_is_refused(cut, tmp_path, capsys):
    own = cut / "cells" / "finetune_s0_seed0" / "progress.pt"
    assert load_checkpoint(own)["cell"] == {"method": "finetune", "sharing": 0.0, "seed": 0}
    foreign = cut / "cells" / "finetune_s0.2_seed0" / "progress.pt"
    foreign.parent.mkdir(exist_ok=True)
    shutil.copy(own, foreign)
    capsys.readouterr()
    assert main(["run", "--resume", str(cut), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"energybench run: error: {foreign} was refused: it is the state of finetune s=0 seed 0, not of finetune "
        "s=0.2 seed 0 whose folder holds it, so it cannot continue this cell. Nothing in it was run. Delete it to "
        "recompute that part of the run\n")
    foreign.unlink()
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    same_rows(cut, unbroken(tmp_path))


def test_a_state_sent_through_ray_is_checked_as_a_file_is():
    """Under Ray a worker loads a cell's base and progress states from bytes: the same check applies."""
    from energybench.engine.checkpoint import checkpoint_bytes
    from energybench.engine.executors.ray import _from_bytes
    from energybench.errors import UserError

    with pytest.raises(UserError, match=r"^a checkpoint sent through Ray was refused: .* \(no 'method', 'history', "
                                        r"'accs', 'trainer_rng', 'torch_rng' in it\)"):
        _from_bytes(checkpoint_bytes({"foo": torch.zeros(3)}), torch.device("cpu"), (), "progress", "finetune")
    with pytest.raises(UserError, match=r"\(it holds list, not the mapping of a base checkpoint\)"):
        _from_bytes(checkpoint_bytes([1, 2, 3]), torch.device("cpu"), (), "base", "finetune")


def test_an_unbroken_checkpoint_still_loads(tmp_path):
    """The allowlist is not too tight: every method's base and progress checkpoints load."""
    from energybench.engine.checkpoint import load_checkpoint

    assert run(tmp_path, "--method", "lucir,tree,sharing,eeil", "--sharing", "0", "--backbone", "tiny_cnn") == 0
    for path in (tmp_path / "r" / "cells").glob("*_base.pt"):
        assert load_checkpoint(path)["method"].net is not None


# ----- one writer per run directory ------------------------------------------------------------------
def test_a_second_run_on_the_same_directory_is_refused(tmp_path, capsys):
    root = tmp_path / "r"
    with RunLock(root):
        assert run(tmp_path) == 2
    err = capsys.readouterr().err
    assert f"{root} is in use by energybench process {os.getpid()}" in err
    assert files_under(root) == {".lock"}  # the refused run wrote nothing
    assert run(tmp_path) == 0  # released: the lock is not stale
    with RunLock(root):  # a resume refused: told to resume once the writer is done (no --run-id to choose there)
        assert main(["run", "--resume", str(root), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert f"{root} is in use by energybench process {os.getpid()}" in err and "--run-id" not in err
    assert err.endswith("; wait for that run to finish (or stop it), then resume it\n")


def test_a_lock_held_by_another_process_refuses_and_dies_with_it(tmp_path, capsys):
    root = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from energybench.engine.lock import RunLock;"
                               f" RunLock({str(root)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run(tmp_path) == 2
        assert f"is in use by energybench process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert run(tmp_path) == 0  # killed with SIGKILL: the kernel dropped its lock


# ----- output locations that cannot be written -----------------------------------------------------------
def test_output_under_proc_is_refused_before_data_loads(capsys):
    assert main(["run", *TINY, "--out", "/proc/energybench-runs"]) == 2
    err = capsys.readouterr().err
    assert "cannot write run directories under /proc/energybench-runs" in err and "Traceback" not in err


def test_output_in_a_folder_without_write_permission_is_refused():
    top = Path(tempfile.mkdtemp(prefix="energybench-perm-"))  # (pytest's tmp_path is private to root)
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    cmd = [sys.executable, "-m", "energybench", "run", *TINY, "--out", str(locked / "runs")]
    if os.geteuid() == 0:  # root may write anywhere: run as nobody, as a user without permission would
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    assert done.returncode == 2, done.stderr
    assert f"cannot write run directories under {locked / 'runs'}" in done.stderr
    assert "Traceback" not in done.stderr and not (locked / "runs").exists()
    shutil.rmtree(top)


@pytest.fixture
def mounted(tmp_path):
    """A mount point for small tmpfs filesystems (needs root, as on CI)."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounts = []

    def mount(options: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must be able to mount a tmpfs: {done.stderr.decode()}")
            pytest.skip("mounting a tmpfs needs root")
        mounts.append(point)
        return point

    yield mount
    for p in mounts:
        subprocess.run(["umount", str(p)], check=False)


def test_output_on_a_read_only_filesystem_is_refused(mounted, capsys):
    point = mounted("size=1m,ro")
    assert main(["run", *TINY, "--out", str(point / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write run directories under {point / 'runs'}" in err and "Read-only file system" in err


def unbroken(tmp_path) -> Path:
    assert run(tmp_path, run_id="whole") == 0
    return tmp_path / "whole"


def same_rows(a: Path, b: Path) -> None:
    def rows(p):
        return sorted(tuple((k, v) for k, v in r.items() if k not in TIMING and k != "run_id")
                      for r in csv.DictReader(open(p / "metrics.csv")))
    assert rows(a) == rows(b)


def test_a_full_disk_stops_with_a_message_and_the_run_resumes_to_the_same_numbers(tmp_path, mounted, capsys):
    point = mounted("size=160k")
    code = run(point, run_id="full")
    err = capsys.readouterr().err
    assert code == 1, err
    assert "stopped: No space left on device" in err and "Traceback" not in err
    assert f"continue with: energybench run --resume {point / 'full'}" in err
    saved = point / "full"
    assert (saved / "config.yaml").is_file()
    # nothing already written is damaged: move it to a roomy disk and resume
    moved = tmp_path / "moved"
    shutil.copytree(saved, moved)
    config = (moved / "config.yaml").read_text().replace(str(point), str(tmp_path))
    (moved / "config.yaml").write_text(config)
    assert main(["run", "--resume", str(moved), "--quiet"]) == 0
    same_rows(moved, unbroken(tmp_path))


def test_a_write_that_fails_for_lack_of_space_leaves_every_file_whole(tmp_path, capsys, monkeypatch):
    """Fault injection where no tmpfs can be mounted: the 6th atomic write finds the disk full."""
    import energybench.engine.store as store

    writes = {"n": 0}

    def full_after_five(path, data):
        writes["n"] += 1
        if writes["n"] == 6:
            raise OSError(28, "No space left on device", str(path))
        atomic_write(path, data)

    monkeypatch.setattr(store, "atomic_write", full_after_five)
    assert run(tmp_path, run_id="f") == 1
    err = capsys.readouterr().err
    assert "stopped: No space left on device while writing" in err
    monkeypatch.setattr(store, "atomic_write", atomic_write)
    assert main(["run", "--resume", str(tmp_path / "f"), "--quiet"]) == 0
    same_rows(tmp_path / "f", unbroken(tmp_path))


def test_leftover_temporary_files_are_removed_on_resume(tmp_path, capsys):
    assert run(tmp_path) == 0
    leftover = tmp_path / "r" / "cells" / ".progress.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    assert main(["run", "--resume", str(tmp_path / "r")]) == 0
    assert "removed 1 unfinished temporary file(s)" in capsys.readouterr().out
    assert not leftover.exists()


# ----- a resumed run equals an unbroken one ----------------------------------------------------------
def test_a_resumed_summary_equals_an_unbroken_one_and_a_finished_resume_rewrites_nothing(tmp_path, monkeypatch):
    whole = unbroken(tmp_path)
    phase, seen = CellWork.phase, {"n": 0}

    def stop_at_the_fourth_phase(self, *a, **k):
        seen["n"] += 1
        if seen["n"] == 4:
            raise KeyboardInterrupt
        return phase(self, *a, **k)

    monkeypatch.setattr(CellWork, "phase", stop_at_the_fourth_phase)
    assert run(tmp_path, run_id="cut") == 130
    monkeypatch.setattr(CellWork, "phase", phase)
    root = tmp_path / "cut"
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    resumed = json.loads((root / "summary.json").read_text())
    assert without_timing(resumed) == without_timing(json.loads((whole / "summary.json").read_text()))
    same_rows(root, whole)  # reused_base included: stable under the interruption
    before = (root / "summary.json").read_bytes()
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    assert (root / "summary.json").read_bytes() == before


def test_sigterm_stops_a_run_like_ctrl_c_and_the_run_resumes_to_the_same_numbers(tmp_path):
    """What kill and Slurm send: the finished phases are kept, the resume command is printed, exit 143."""
    root = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "energybench", "run", *TINY, "--out", str(tmp_path),
                             "--run-id", "term"], cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        metrics, end = root / "metrics.csv", time.monotonic() + 120
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) > 2):  # two rows of twelve
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    kept = len(list(csv.DictReader(open(metrics))))
    assert err.endswith(f"energybench run: interrupted by SIGTERM; every finished phase is saved in {root} ({kept} "
                        f"row(s) in metrics.csv).\nContinue with: energybench run --resume {root}\n"), err
    assert "Traceback" not in err and 2 <= kept < 12  # stopped part-way
    handler = signal.getsignal(signal.SIGTERM)
    assert main(["run", "--resume", str(root), "--quiet"]) == 0
    assert signal.getsignal(signal.SIGTERM) is handler  # an in-process run leaves the caller's handler as it was
    same_rows(root, unbroken(tmp_path))


# ----- levels that fall on the same cut -----------------------------------------------------------------
def test_levels_on_the_same_block_boundary_are_trained_once(tmp_path, capsys):
    assert main(["run", *TINY, "--method", "finetune", "--sharing", "0,0.2,0.4,0.9,0.99", "--out", str(tmp_path),
                 "--run-id", "c"]) == 0
    err = capsys.readouterr().err
    assert err.count("fall on the same block boundary") == 1
    assert "sharing levels 0.4 -> 0.2 fall on the same block boundary" in err
    levels = sorted({r["sharing"] for r in csv.DictReader(open(tmp_path / "c" / "metrics.csv"))})
    assert levels == ["0.0", "0.2", "0.9", "0.99"]  # tiny_cnn: 0.2 and 0.4 both share 17.6 %
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["sharing_levels"]["collapsed"] == {"0.4": 0.2}
    assert manifest["sharing_levels"]["achieved"]["0.99"] == 1.0


# ----- a failed start leaves nothing behind -------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["--backbone", "lenet"], "lenet needs inputs of at least 16x16"),
    (["--backbone", "vgg19"], "backbone 'vgg19' cannot take input 1x8x8 (Given input size"),
])
def test_a_start_that_fails_writes_nothing(tmp_path, capsys, argv, message):
    assert run(tmp_path, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ----- long runs announce themselves ------------------------------------------------------------------
def test_the_run_announces_its_size_and_an_estimate(tmp_path, capsys):
    assert main(["run", *[a for a in TINY if a != "--quiet"], "--out", str(tmp_path), "--run-id", "p"]) == 0
    out = capsys.readouterr().out
    assert "2 method(s) x 2 sharing level(s) x 1 seed(s): 4 cell(s) to run, 10 phase(s) to train" in out
    assert "estimated duration: about" in out
    assert "[10/10 phases, 4/4 cells," in out


def _limited_run(root: Path, kib: int, run_id: str) -> subprocess.CompletedProcess:
    """`energybench run` in a process whose files may be at most `kib` KiB (ulimit -f, which Slurm
    passes on to jobs): a write past it fails with EFBIG."""
    import resource

    limit = kib * 1024
    return subprocess.run([sys.executable, "-m", "energybench", "run", "--method", "finetune", "--sharing", "0",
                           "--epochs", "1", "--train-per-class", "8", "--test-per-class", "4", "--no-power",
                           "--quiet", "--out", str(root), "--run-id", run_id], capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)), timeout=300)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a file-size limit (setrlimit) is POSIX")
def test_a_file_size_limit_stops_the_run_or_its_reports_with_what_is_saved(tmp_path):
    # 100 KiB: the base checkpoint (about 150 KiB) cannot be written
    done = _limited_run(tmp_path, 100, "small")
    err = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert err.startswith("energybench run: stopped: File too large. Every phase finished before this is saved in ")
    assert err.endswith(f"Raise the file-size limit (ulimit -f) and continue with: energybench run --resume "
                        f"{tmp_path / 'small'}")
    # 300 KiB: every row and state is written, report.html (about 430 KiB) is not
    done = _limited_run(tmp_path, 300, "reports")
    root = tmp_path / "reports"
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"energybench run: stopped: cannot write {root / 'report.html'}: File too large. The run is finished and "
        f"every row is saved in {root}; raise the file-size limit (ulimit -f) and write the reports with: "
        f"energybench report {root}")
    assert (root / "summary.json").is_file() and len(list(csv.DictReader(open(root / "metrics.csv")))) == 3
    assert main(["report", str(root), "--report-format", "html"]) == 0  # as it says, without the limit


def test_a_metrics_row_cut_short_is_trained_again_not_kept(tmp_path, capsys):
    whole = unbroken(tmp_path)
    cut = tmp_path / "cut"
    shutil.copytree(whole, cut)
    lines = (whole / "metrics.csv").read_text().splitlines()
    (cut / "metrics.csv").write_text("\n".join(lines[:-1] + [lines[-1][:len(lines[-1]) // 3]]))  # a copy cut short
    capsys.readouterr()
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (f"{cut / 'metrics.csv'}: 1 row(s) have the wrong number of fields (line {len(lines)}): a copy cut "
            "short, or an edit; left out, so their phases are trained again") in err
    same_rows(cut, whole)  # the cell trained again from its base: every row whole, the same numbers
    assert len((cut / "metrics.csv").read_text().splitlines()) == len(lines)
