"""`energybench cost` with no new option prints today's numbers: the JSON of five commands,
recorded by the code of commit 51bc940 (before node scaling and architecture files), must come
out again key for key (new keys may be added; no recorded value may change).

Two deliberate changes since (issue 20, element-wise work counted): an op the recording listed as
not counted is now priced as element-wise work or listed as layout (`layout_ops`), never newly
uncounted; and modules that do element-wise work only (a ReLU, the loss outside any module) are
now layers of their own, so recorded layers are matched by name and the new ones must have no
MACs and no MAC-dataflow accesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from energybench.cli import main

CASES = json.loads((Path(__file__).parent / "data" / "cost_defaults.json").read_text())["cases"]


def differences(recorded, now, path="") -> list[str]:
    if isinstance(recorded, dict):
        if not isinstance(now, dict):
            return [f"{path}: now {now!r}"]
        return [d for k, v in recorded.items()
                for d in (differences(v, now[k], f"{path}.{k}") if k in now else [f"{path}.{k} is missing"])]
    if isinstance(recorded, list):
        if not isinstance(now, list) or len(now) != len(recorded):
            return [f"{path}: length {len(recorded)} recorded, now {len(now) if isinstance(now, list) else now!r}"]
        return [d for i, (a, b) in enumerate(zip(recorded, now)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if recorded == now else [f"{path}: recorded {recorded!r}, now {now!r}"]


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["argv"]) for c in CASES])
def test_cost_defaults_are_unchanged(capsys, case):
    assert main(["cost", *case["argv"], "--json"]) == 0
    now = json.loads(capsys.readouterr().out)
    recorded = dict(case["output"])
    was_uncounted, layers = recorded.pop("uncounted_ops"), recorded.pop("layers")
    assert differences(recorded, now) == []
    assert set(now["uncounted_ops"]) <= set(was_uncounted)
    for op, calls in was_uncounted.items():
        assert op in now["uncounted_ops"] or now["layout_ops"].get(op) == calls or now["elementwise_fwd_ops"] > 0, op
    by_name = {layer["name"]: layer for layer in now["layers"]}
    assert differences(layers, [by_name.get(layer["name"]) for layer in layers]) == []
    for name in set(by_name) - {layer["name"] for layer in layers}:
        new = by_name[name]
        assert new["fwd_macs"] == new["mem_reads"] == new["mem_writes"] == 0, name
    assert now["hierarchy"]["architecture"] == "layer_buffer" and now["hierarchy"]["node_nm"] == 45


def test_the_comparison_catches_a_change():
    assert differences({"a": [1, {"b": 2.5}]}, {"a": [1, {"b": 2.5000001}], "c": 3}) == [
        ".a[1].b: recorded 2.5, now 2.5000001"]
