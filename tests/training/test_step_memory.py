"""A training step too large for the machine is refused before it runs (cost and run), with the
floor of what it must hold, instead of being killed by the kernel once it has filled the memory."""

from __future__ import annotations

import torch
from torch import nn

from energybench.cli import main
from energybench.training import step_memory
from energybench.training.step_memory import free_bytes, held_at_forward_end


def _meta_batch():
    return torch.randn(2, 4, device="meta"), torch.randint(0, 3, (2,), device="meta")


def test_the_floor_counts_each_storage_held_at_the_forward_end_once():
    x, y = _meta_batch()
    # Linear(4, 3): weight and bias 15 floats (60 B), input 8 floats (32 B), labels 2 int64 (16 B), the
    # log-softmax output kept for its own backward and for the loss's (2x3 floats, 24 B, one storage), the
    # loss's total weight (4 B). The weight is not saved: the input needs no gradient.
    assert held_at_forward_end(nn.Linear(4, 3).to("meta"), x, y) == 60 + 32 + 16 + 24 + 4
    # + a hidden layer: parameters (4x5 + 5 + 5x3 + 3) x 4 B = 172; the ReLU's output (2x5 floats, 40 B)
    # kept by the ReLU and by the next Linear (one storage), whose weight it keeps as a view of the
    # parameter (counted with the parameters)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).to("meta")
    assert held_at_forward_end(net, x, y) == 172 + 32 + 16 + 40 + 24 + 4


def test_free_memory_is_the_kernels_available_memory(tmp_path, monkeypatch):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   12345678 kB\n")
    monkeypatch.setattr(step_memory, "MEMINFO", info)
    assert free_bytes(torch.device("cpu")) == 12345678 * 1024
    info.write_text("MemTotal:       24000000 kB\n")  # (a kernel without the line: no early answer)
    assert free_bytes(torch.device("cpu")) is None
    monkeypatch.setattr(step_memory, "MEMINFO", tmp_path / "absent")
    assert free_bytes(torch.device("cpu")) is None
    assert free_bytes(torch.device("meta")) is None


def _with_free(monkeypatch, n: int | None) -> None:
    monkeypatch.setattr("energybench.training.step_profile.free_bytes", lambda device: n)


def _need(batch: int) -> int:
    """What a tiny_cnn step on 1x8x8 with 10 classes holds, by the same meta pass cost makes."""
    from energybench.training.step_profile import _built

    net, _, x, y = _built("tiny_cnn", (1, 8, 8), 10, batch, 0.0, 1.0, False, device="meta")
    return held_at_forward_end(net, x, y)


def test_cost_refuses_a_step_past_the_free_memory_and_runs_one_within_it(monkeypatch, capsys):
    need = _need(512)
    args = ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--num-classes", "10", "--batch-size", "512",
            "--json"]
    _with_free(monkeypatch, need - 1)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"energybench cost: error: one training step of tiny_cnn at batch 512 on 1x8x8 must hold at least "
                   f"{need / 2**30:,.1f} GiB at once (its weights, input and the activations its backward keeps), "
                   f"more than the {(need - 1) / 2**30:,.1f} GiB free on cpu: give a smaller --batch-size, or "
                   "--device meta, which counts the same operations on shapes only")
    _with_free(monkeypatch, need)
    assert main(args) == 0
    assert '"batch": 512' in capsys.readouterr().out
    assert need > _need(256) > 0  # the floor grows with the batch


def test_sampled_on_a_few_samples_the_floor_is_what_the_whole_batch_holds():
    # (a run's pre-flight samples 2 and 3 on its device rather than importing torch._dynamo for the meta device)
    from energybench.training.step_profile import _built, step_floor

    for model, shape in [("tiny_cnn", (1, 8, 8)), ("resnet20", (1, 16, 16)), ("tiny_vit", (1, 28, 28))]:
        net, _, x, y = _built(model, shape, 10, 40, 0.0, 1.0, False, device="cpu")
        assert step_floor(model, shape, 10, 40, torch.device("cpu"), sampled=True) == held_at_forward_end(net, x, y)


def test_run_refuses_a_batch_past_the_free_memory_before_anything_is_written(tmp_path, monkeypatch, capsys):
    # digits' B4-3x2 scenario trains on 1,257 samples: no batch is larger, whatever --batch-size says
    _with_free(monkeypatch, 1)
    out = tmp_path / "runs"
    code = main(["run", "--method", "finetune", "--sharing", "0", "--epochs", "1", "--batch-size", "4096",
                 "--out", str(out), "--no-power", "--no-report", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "one training step of tiny_cnn at batch 1,257 on 1x8x8 must hold at least" in err
    assert err.rstrip().endswith("give a smaller --batch-size")
    assert not out.exists()


def test_where_free_memory_cannot_be_read_a_failed_allocation_still_gets_one_message(monkeypatch, capsys):
    # (no floor to compare: the step runs, and torch's failed 1.2e18-byte allocation is said in one line)
    _with_free(monkeypatch, None)
    code = main(["cost", "--backbone", "resnet20", "--input", "3x32x32", "--batch-size", "100000000000000"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("energybench cost: error: one training step of resnet20 at batch 100000000000000 on "
                          "3x32x32 with 10 classes needs more memory than this machine has (one tensor of ")
    assert "\n" not in err
