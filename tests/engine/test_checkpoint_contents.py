"""A checkpoint holds tensors and plain containers only, and can allocate no more than its own
tensors: no class it names is ever constructed. A well-formed checkpoint of another run
(another backbone, width or configuration) is refused, naming what differs; so is one whose
backbone does not have the run's parameter shapes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from energybench.cli import main
from energybench.engine.checkpoint import checkpoint_bytes, load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = ["--method", "finetune", "--sharing", "0", "--epochs", "1", "--train-per-class", "6", "--test-per-class", "3",
        "--no-power", "--no-report", "--quiet"]


class BigLayer:
    """Pickles as a call of nn.Linear(20000, 20000): 1.6 GB built from a file of about 1 KB."""

    def __reduce__(self):
        return (nn.Linear, (20000, 20000))


def test_a_small_file_cannot_make_the_loader_allocate(tmp_path):
    path = tmp_path / "progress.pt"
    buf = io.BytesIO()
    torch.save({"method": BigLayer(), "history": [], "accs": [1.0]}, buf)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 2000
    probe = ("import resource, sys; from energybench.engine.checkpoint import load_checkpoint\n"
             "from energybench.errors import UserError\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             f"try:\n    load_checkpoint({str(path)!r}, kind='progress')\n"
             "except UserError as exc:\n    print(exc)\n"
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    message, grown_kb = done.stdout.strip().splitlines()
    assert message.startswith(f"{path} was refused: it is not a checkpoint energybench wrote") and "Linear" in message
    assert int(grown_kb) < 100_000  # (the old allow-listed loader built the layer: 1.6 GB, then refused it)


def test_a_tensor_larger_than_its_storage_is_refused():
    """A stride-0 view of one number, shaped 20000x20000: 4 bytes in the file, 1.6 GB once copied."""
    from energybench.errors import UserError

    with pytest.raises(UserError, match=r"\(it holds a tensor of shape \(20000, 20000\) over 4 bytes of storage\)"):
        load_checkpoint(checkpoint_bytes({"method": None, "big": torch.zeros(1).expand(20000, 20000)}))


def test_a_checkpoint_names_no_class_as_a_global():
    """The bytes hold no pickled global but torch's own tensor rebuilders: classes are only text."""
    import pickletools
    import zipfile

    from energybench.methods.finetune import Finetune

    method = Finetune.__new__(Finetune)
    method.__dict__.update(net=nn.Sequential(nn.Linear(3, 2)), old=None, cut=None, extra={}, ctx=None, opts={})
    data = checkpoint_bytes({"method": method, "accs": [1.0]})
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pickle_bytes = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    globals_ = {arg for op, arg, _ in pickletools.genops(pickle_bytes) if op.name in ("GLOBAL", "STACK_GLOBAL")
                and arg}
    assert all(g.startswith(("torch._utils", "torch ", "collections OrderedDict")) for g in globals_), globals_
    back = load_checkpoint(data)
    assert isinstance(back["method"], Finetune) and torch.equal(back["method"].net[0].weight, method.net[0].weight)


def test_a_checkpoint_of_a_run_with_another_network_is_refused(tmp_path, capsys):
    assert main(["run", *TINY, "--width", "0.5", "--out", str(tmp_path), "--run-id", "half"]) == 0
    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    base = root / "cells" / "finetune_seed0_base.pt"
    base.write_bytes((tmp_path / "half" / "cells" / "finetune_seed0_base.pt").read_bytes())
    (root / "metrics.csv").unlink()  # so that the resume reads the base again
    capsys.readouterr()
    assert main(["run", "--resume", str(root), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"energybench run: error: {base} was refused: it was written by another run (width 0.5, not 1.0), so it "
        "cannot continue this run. Nothing in it was run. Delete it to recompute that part of the run\n")
    # another configuration: the keys that differ are named
    assert main(["run", *TINY, "--lr", "0.02", "--epochs", "2", "--out", str(tmp_path), "--run-id", "other"]) == 0
    base.write_bytes((tmp_path / "other" / "cells" / "finetune_seed0_base.pt").read_bytes())
    capsys.readouterr()
    assert main(["run", "--resume", str(root), "--quiet"]) == 2
    assert f"{base} was refused: it was written by another run (another configuration: epochs 2, not 1, lr 0.02, " \
           "not 0.05), so it cannot continue" in capsys.readouterr().err


def test_a_backbone_of_other_shapes_is_refused_before_it_is_used(tmp_path, capsys):
    from energybench.engine.preflight import make_config
    from energybench.engine.checkpoint import RunIdentity

    assert main(["run", *TINY, "--out", str(tmp_path), "--run-id", "r"]) == 0
    root = tmp_path / "r"
    base = root / "cells" / "finetune_seed0_base.pt"
    state = load_checkpoint(base)
    backbone = state["method"].net.backbone
    name, param = next(iter(backbone.named_parameters()))
    param.data = torch.zeros(3, *param.shape[1:])  # a layer of 3 channels where the network has another count
    cfg = make_config({**__import__("yaml").safe_load((root / "config.yaml").read_text())})
    base.write_bytes(checkpoint_bytes(state, RunIdentity(cfg, (1, 8, 8))))
    (root / "metrics.csv").unlink()
    capsys.readouterr()
    assert main(["run", "--resume", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{base} was refused: its backbone's {name!r} has shape (3, " in err and err.count("\n") == 1


def test_a_state_a_ray_worker_sends_is_checked_before_anything_of_its_phase_is_written(tmp_path):
    from energybench.engine.cell import PhaseDone
    from energybench.engine.plan import Cell
    from energybench.engine.store import RunStore
    from energybench.errors import UserError

    store = RunStore(tmp_path / "r")
    done = PhaseDone(Cell("finetune", 0.0, 0), 1, {"method": "finetune", "phase": 1, "acc_all": 50.0}, "",
                     state=checkpoint_bytes({"method": None, "history": [[1.0]], "accs": [1.0]}))
    with pytest.raises(UserError, match=r"^a checkpoint sent through Ray was refused: .*\(no 'trainer_rng', "
                                        r"'torch_rng' in it\)"):
        store.record_phase(done)
    assert not (tmp_path / "r").exists()  # no row, no confusion matrix, no checkpoint
    # an embedded cluster's workers are this run's own processes: their states are written as sent, unread, as the
    # local executor's own states are
    store.check_sent = False
    store.record_phase(done)
    assert store.progress_checkpoint("finetune", 0.0, 0).read_bytes() == done.state


def test_a_checkpoint_of_the_earlier_format_is_refused_as_such(tmp_path):
    """Earlier versions pickled whole objects (their classes as globals): refused, saying so."""
    from energybench.errors import UserError
    from energybench.methods.finetune import Finetune

    method = Finetune.__new__(Finetune)
    method.__dict__.update(net=None, old=None, cut=None, extra={}, ctx=None, opts={})
    path = tmp_path / "finetune_seed0_base.pt"
    torch.save({"method": method, "row": {"acc_all": 1.0}, "group_acc": [1.0], "confusion": ""}, path)
    with pytest.raises(UserError, match=r"was written by an earlier energybench, whose checkpoints held whole "
                                        r"objects; .* Delete it to recompute that part of the run$"):
        load_checkpoint(path, kind="base")


def _table(*objects, root=None) -> bytes:
    buf = io.BytesIO()
    torch.save({"energybench_checkpoint": 2, "fingerprint": None, "objects": list(objects),
                "root": root if root is not None else {"ref": 0}}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("data,why", [
    (_table({"t": "npscalar", "dtype": "|V1000000000", "v": 10**10}),
     "entry 0: a numpy scalar of dtype '|V1000000000', not a number"),  # np.void(10**10): 10 GB
    (_table({"t": "object", "c": "os.system", "d": {"ref": 1}}, {"t": "dict", "k": [], "v": []}),
     "it names the class 'os.system', which a checkpoint may not hold"),
    (_table({"t": "function", "c": "builtins.eval"}), "it names the function 'builtins.eval'"),
    (_table({"t": "list", "v": [{"ref": 7}]}), "a value of type dict where a number"),
    (_table({"t": "tuple", "v": [{"ref": 0}]}), "entry 0 refers to itself through a tuple or set"),
    (_table({"t": "npscalar", "dtype": "i1", "v": 10**30}), "an entry does not rebuild (OverflowError)"),
])
def test_a_crafted_table_is_refused_naming_what_is_wrong(data, why):
    from energybench.errors import UserError

    with pytest.raises(UserError) as err:
        load_checkpoint(data)
    assert why in str(err.value) and "Nothing in it was run" in str(err.value)
