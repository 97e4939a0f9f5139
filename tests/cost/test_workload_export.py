"""The step's (layer, pass) workloads in ZigZag's, Timeloop's and SCALE-Sim's own formats: read back
by ZigZag's parser, checked against the documented Timeloop CNN-layer and SCALE-Sim topology
schemas, MACs equal to the counter's, frozen layers without backward passes."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from torch import nn

from energybench.cost.counter import count_step
from energybench.cost.export import write_workload
from energybench.errors import UserError


def _step(freeze_first: bool):
    """conv 3->8 3x3 stride 2 pad 1 on 1x3x8x8, ReLU, conv 8->4 1x1 stride 2, linear 16->5."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                        nn.Conv2d(8, 4, 1, stride=2, bias=False), nn.Flatten(), nn.Linear(16, 5))
    if freeze_first:
        net[0].requires_grad_(False)
    x = torch.randn(1, 3, 8, 8)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)

    def step():
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()

    return count_step(step, net)[1]


@pytest.fixture(params=[False, True], ids=["all trained", "first frozen"])
def profile(request):
    return request.param, _step(request.param)


def test_zigzag_file_read_back_by_zigzags_parser(profile, tmp_path):
    pytest.importorskip("zigzag")
    pytest.importorskip("six")
    from zigzag.parser.mapping_validator import MappingValidator
    from zigzag.parser.workload_factory import WorkloadFactory
    from zigzag.parser.workload_validator import WorkloadValidator

    frozen, prof = profile
    path = write_workload(prof, "zigzag", tmp_path / "step.yaml")
    data = yaml.safe_load(path.read_text())
    v = WorkloadValidator(data)
    assert v.validate(), v.validator.errors
    mv = MappingValidator([{"name": "default", "spatial_mapping_hint": {"D1": ["K"]},
                            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}])
    assert mv.validate()
    nodes = list(WorkloadFactory(v.normalized_data, mv.normalized_data).create().topological_sort())
    assert sum(n.total_mac_count for n in nodes) == prof.fwd_macs + prof.bwd_input_macs + prof.bwd_weight_macs
    names = [n.name for n in nodes]
    # first conv: forward only when frozen; never a backward-to-input (its input needs no gradient)
    assert [n for n in names if n.startswith("0.")] == (["0.forward"] if frozen else ["0.forward",
                                                                                      "0.backward_weight"])
    # the 1x1 stride-2 conv's input gradient is one phase (the frozen first layer needs none)
    assert [n for n in names if n.startswith("2.")] == (["2.forward", "2.backward_weight"] if frozen else
                                                        ["2.forward", "2.backward_input.phase00", "2.backward_weight"])


def test_timeloop_problems_follow_the_cnn_layer_schema(tmp_path):
    prof = _step(False)
    folder = write_workload(prof, "timeloop", tmp_path / "timeloop")
    files = sorted(folder.iterdir())
    total = 0
    for f in files:
        doc = yaml.safe_load(f.read_text())
        shape, inst = doc["problem"]["shape"], doc["problem"]["instance"]
        assert shape["dimensions"] == ["C", "M", "R", "S", "N", "P", "Q"]
        assert [c["name"] for c in shape["coefficients"]] == ["Wstride", "Hstride", "Wdilation", "Hdilation"]
        assert [d["name"] for d in shape["data-spaces"]] == ["Weights", "Inputs", "Outputs"]
        assert set(inst) == {"C", "M", "R", "S", "N", "P", "Q", "Wstride", "Hstride", "Wdilation", "Hdilation"}
        total += math.prod(inst[k] for k in "CMRSNPQ")
    assert total == prof.fwd_macs + prof.bwd_input_macs + prof.bwd_weight_macs
    first = yaml.safe_load(files[0].read_text())["problem"]["instance"]
    assert files[0].name == "0000_0.forward.yaml"
    assert first == {"C": 3, "M": 8, "R": 3, "S": 3, "N": 1, "P": 4, "Q": 4, "Wstride": 2, "Hstride": 2,
                     "Wdilation": 1, "Hdilation": 1}
    # backward-to-weights of the first conv: kernel = dY (4x4) dilated by the stride, output = 3x3
    bw = yaml.safe_load((folder / "0001_0.backward_weight.yaml").read_text())["problem"]["instance"]
    assert bw == {"C": 1, "M": 8, "R": 4, "S": 4, "N": 3, "P": 3, "Q": 3, "Wstride": 1, "Hstride": 1,
                  "Wdilation": 2, "Hdilation": 2}


def test_scalesim_topology_rows(tmp_path):
    prof = _step(False)
    path = write_workload(prof, "scalesim", tmp_path / "topo.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                        "Num Filter, Strides,")
    # padded extent the 4x4 output needs: (4 - 1) x 2 + 3 = 9
    assert lines[1] == "0.forward, 9, 9, 3, 3, 3, 8, 2,"
    total = 0
    for line in lines[1:]:
        cells = [c.strip() for c in line.split(",")]
        assert len(cells) == 9 and cells[-1] == ""  # the format's trailing comma
        h, w, fh, fw, ch, nf, s = map(int, cells[1:8])
        oh, ow = (h - fh) // s + 1, (w - fw) // s + 1
        assert (h - fh) % s == 0 and (w - fw) % s == 0
        total += oh * ow * fh * fw * ch * nf
    assert total == prof.fwd_macs + prof.bwd_input_macs + prof.bwd_weight_macs


def test_unknown_format_names_the_valid_ones_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="'maestro' is not one of zigzag, timeloop, scalesim"):
        write_workload(_step(False), "maestro", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_place_is_one_message(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot write the scalesim workload to"):
        write_workload(_step(False), "scalesim", tmp_path / "file" / "topo.csv")


def test_cost_cli_exports_the_step_at_its_sharing_level(tmp_path, capsys):
    """`energybench cost --export-workload`: tiny_cnn at sharing 0.3 (two blocks frozen) written as
    ZigZag's workload, which ZigZag's own parser reads back: the frozen convolutions forward only,
    the third conv (frozen input side) without an input gradient, the MACs the step's."""
    import json

    from energybench.cli import main

    f = tmp_path / "step.yaml"
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--batch-size", "2", "--sharing", "0.3",
                 "--export-workload", str(f), "--workload-format", "ZigZag", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [d["name"] for d in yaml.safe_load(f.read_text())]
    assert names == ["backbone.blocks.0.0.forward", "backbone.blocks.1.0.0.forward", "backbone.blocks.2.0.0.forward",
                     "backbone.blocks.2.0.0.backward_weight", "backbone.blocks.3.0.forward",
                     "backbone.blocks.3.0.backward_input", "backbone.blocks.3.0.backward_weight",
                     "head.chunks.0.forward", "head.chunks.0.backward_input", "head.chunks.0.backward_weight"]
    pytest.importorskip("zigzag")
    pytest.importorskip("six")
    from zigzag.parser.mapping_validator import MappingValidator
    from zigzag.parser.workload_factory import WorkloadFactory
    from zigzag.parser.workload_validator import WorkloadValidator

    v = WorkloadValidator(yaml.safe_load(f.read_text()))
    assert v.validate(), v.validator.errors
    mv = MappingValidator([{"name": "default", "spatial_mapping_hint": {"D1": ["K"]},
                            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}])
    assert mv.validate()
    nodes = list(WorkloadFactory(v.normalized_data, mv.normalized_data).create().topological_sort())
    assert sum(n.total_mac_count for n in nodes) == out["train_step_macs"] == 1207552 + 9472 + 599296


def test_cost_cli_refuses_a_bad_workload_format_before_writing(tmp_path, capsys):
    from energybench.cli import main

    f = tmp_path / "step.csv"
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--export-workload", str(f),
                 "--workload-format", "maestro"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("unknown --workload-format 'maestro'; valid formats: zigzag, timeloop, "
                                             "scalesim")
    assert main(["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--sharing", "0,0.5", "--export-workload",
                 str(f)]) == 2
    assert "--export-workload writes one step" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
