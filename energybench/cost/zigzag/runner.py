"""Runs ZigZag on single layers: its pipeline without the stages that save files, LOMA as the
temporal mapper (deterministic; SALSA is unseeded), the answer reduced to plain JSON.

ZigZag's own entry point calls logging.basicConfig(INFO) and writes ./outputs/<timestamp>:
here no save stage runs, its input files go to a temporary folder, its progress bar is off and
its loggers are silenced (and restored) for the call, so nothing of it reaches the user's folder
or console; a batch that is not all cached is announced on stderr with its size, and its time
once done. Distinct layers run in parallel worker processes (`python -m` this module, jobs as JSON
on stdin, answers on stdout: nothing of the caller's torch or __main__ is inherited or re-run);
answers come from and go to the disk cache (cache.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from energybench.cost.zigzag import cache
from energybench.errors import UserError

INSTALL = "pip install 'energybench[zigzag]'"
# The mapper's settings (part of the cache key): LOMA, loop prime factors limited to 6, the
# minimum-energy mapping, ZigZag's best spatial unrolling by utilisation only (each more
# candidate is another full LOMA search), several layer dimensions unrolled on one array
# dimension (an im2col array packs the whole reduction C x FY x FX down its rows: without it a
# backward-to-weights pass, whose reduction is the batch and the output positions, uses a few
# rows; ResNet-18 layer4 on tpu_like: 4.6x the energy, 7x the cycles).
SETTINGS = {"temporal_mapper": "loma", "lpf_limit": 6, "opt": "energy", "temporal_mapping_type": "uneven",
            "access_same_data_considered_as_no_access": True, "spatial_candidates": 1, "mixed_unrolling": True}


def zigzag_version() -> str:
    """The installed zigzag-dse's version; UserError naming the install command without it."""
    try:
        import zigzag  # noqa: F401
        import six  # noqa: F401  (zigzag-dse 3.9.1 imports it without declaring it)
        from importlib.metadata import version
        return version("zigzag-dse")
    except ImportError as exc:
        raise UserError(f"the zigzag mapper needs ZigZag (zigzag-dse) and six, which are not installed "
                        f"({exc.name or exc} is missing): {INSTALL}") from None


class _Quiet:
    """ZigZag's loggers silenced, and the root logger's configuration put back afterwards."""

    def __enter__(self):
        root = logging.getLogger()
        self.root = (root.level, list(root.handlers))
        self.zz = logging.getLogger("zigzag")
        self.zz_state = (self.zz.level, self.zz.propagate, list(self.zz.handlers))
        self.zz.setLevel(logging.CRITICAL + 1)
        self.zz.propagate = False
        return self

    def __exit__(self, *exc):
        root = logging.getLogger()
        root.setLevel(self.root[0])
        root.handlers[:] = self.root[1]
        self.zz.setLevel(self.zz_state[0])
        self.zz.propagate = self.zz_state[1]
        self.zz.handlers[:] = self.zz_state[2]
        return False


def _run_zigzag(layer: dict, accelerator: dict, mapping: list[dict], settings: dict) -> dict:
    """One ZigZag layer on one accelerator -> {memory name: {direction: accesses}}, cycles, MACs."""
    from zigzag.hardware.architecture.memory_port import DataDirection
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
    from zigzag.stages.main import MainStage
    from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
    from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
    from zigzag.stages.parser.workload_parser import WorkloadParserStage
    from zigzag.stages.results.reduce_stages import MinimalEDPStage, MinimalEnergyStage, MinimalLatencyStage
    from zigzag.stages.workload_iterator import WorkloadStage
    from zigzag.mapping.temporal_mapping import TemporalMappingType

    opt = {"energy": MinimalEnergyStage, "latency": MinimalLatencyStage, "EDP": MinimalEDPStage}[settings["opt"]]
    with tempfile.TemporaryDirectory(prefix="energybench-zigzag-") as tmp, _Quiet():
        acc_path, map_path = Path(tmp) / "accelerator.yaml", Path(tmp) / "mapping.yaml"
        acc_path.write_text(yaml.safe_dump(accelerator, sort_keys=False))
        map_path.write_text(yaml.safe_dump(mapping, sort_keys=False))
        main = MainStage(
            [WorkloadParserStage, AcceleratorParserStage, WorkloadStage, opt, SpatialMappingGeneratorStage, opt,
             TemporalMappingGeneratorStage, CostModelStage],
            accelerator=str(acc_path), mapping=str(map_path), dump_folder=tmp,
            workload=[{"id": 0, "name": "layer", **layer, "operand_source": {"I": 0, "W": 0}}],
            loma_lpf_limit=settings["lpf_limit"], loma_show_progress_bar=False,
            nb_mappings_generated=settings["spatial_candidates"],
            enable_mix_spatial_mapping_generation=settings["mixed_unrolling"],
            access_same_data_considered_as_no_access=settings["access_same_data_considered_as_no_access"],
            temporal_mapping_type=TemporalMappingType(settings["temporal_mapping_type"]))
        cwd = os.getcwd()
        os.chdir(tmp)  # anything ZigZag writes after all lands in the temporary folder
        try:
            cmes = main.run()
        finally:
            os.chdir(cwd)
    cme = cmes[0][0]
    memories: dict[str, dict[str, float]] = {}
    for layer_op, per_level in cme.memory_word_access.items():
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        for lvl, acc in enumerate(per_level):
            name = cme.accelerator.get_memory_level(mem_op, lvl).name
            m = memories.setdefault(name, {"reads": 0.0, "writes": 0.0})
            m["reads"] += float(acc.get(DataDirection.RD_OUT_TO_LOW) + acc.get(DataDirection.RD_OUT_TO_HIGH))
            m["writes"] += float(acc.get(DataDirection.WR_IN_BY_HIGH) + acc.get(DataDirection.WR_IN_BY_LOW))
    return {"memories": memories, "latency_cycles": float(cme.latency_total2),
            "ideal_cycles": float(cme.ideal_cycle), "macs": float(cme.layer.total_mac_count),
            "energy_pj": float(cme.energy_total), "mac_energy_pj": float(cme.mac_energy),
            "spatial_mapping": str(cme.spatial_mapping.mapping_dict_origin)}


def _job(args) -> dict:
    """One layer mapped and its answer cached at once (an interrupted batch keeps what it mapped)."""
    layer, accelerator, mapping, settings, k, where = args
    answer = _run_zigzag(layer, accelerator, mapping, settings)
    cache.put(k, answer, Path(where))
    return answer


def _worker(jobs: list) -> list[dict]:
    """One worker process on a share of the jobs."""
    if not jobs:
        return []
    root = str(Path(__file__).resolve().parents[3])  # the folder holding the energybench package
    # a fixed hash seed: ZigZag keeps spatial-mapping candidates in sets, so ties break the same way
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory(prefix="energybench-zigzag-") as tmp:
        done = subprocess.run([sys.executable, "-m", "energybench.cost.zigzag.runner"], input=json.dumps(jobs),
                              capture_output=True, text=True, cwd=tmp, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"ZigZag worker failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _share(jobs: list, n: int) -> list[list[int]]:
    """Job indices for n workers, the largest layers first to the least loaded worker."""
    import math
    load, shares = [0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(jobs)), key=lambda i: -math.prod(jobs[i][0]["loop_sizes"])):
        w = load.index(min(load))
        shares[w].append(i)
        load[w] += math.prod(jobs[i][0]["loop_sizes"])
    return shares


def run_layers(layers: list[dict], accelerator: dict, mapping: list[dict], settings: dict | None = None,
               processes: int | None = None, where: Path | None = None) -> list[dict]:
    """ZigZag's answer for each layer dict, from the cache where it has it; the rest mapped in
    up to `processes` parallel processes (default: the CPUs this process may use) and cached."""
    settings = {**SETTINGS, **(settings or {})}
    version = zigzag_version()
    layers = [{k: v for k, v in layer.items() if k != "name"} for layer in layers]  # keyed by shape alone
    keys = [cache.key(layer, accelerator, mapping, settings, version) for layer in layers]
    out: list[dict | None] = [cache.get(k, where) for k in keys]
    todo = {}
    for i, k in enumerate(keys):
        if out[i] is None:
            todo.setdefault(k, i)  # identical layers mapped once
    if todo:
        folder = str(where or cache.cache_dir())
        jobs = [(layers[i], accelerator, mapping, settings, k, folder) for k, i in todo.items()]
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = min(len(jobs), processes or cpus)
        # always in worker processes, even one: a fixed hash seed, and no chdir in the caller
        shares = _share(jobs, n)
        # a cold search takes minutes with no other sign of life: said before and after
        print(f"energybench: ZigZag maps {len(jobs)} layer-pass(es) not in its cache, {n} at a time (a search takes "
              f"about a minute on one core, more beside other work); answers are kept in {folder}",
              file=sys.stderr, flush=True)
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(lambda share: _worker([jobs[i] for i in share]), shares))
        print(f"energybench: ZigZag mapped {len(jobs)} layer-pass(es) in {time.monotonic() - start:.0f} s",
              file=sys.stderr, flush=True)
        answers = [None] * len(jobs)
        for share, result in zip(shares, results):
            for i, answer in zip(share, result):
                answers[i] = answer
        for i, k in enumerate(keys):
            if out[i] is None:
                out[i] = answers[list(todo).index(k)]
    return out  # type: ignore[return-value]


if __name__ == "__main__":  # a worker: jobs (layer, accelerator, mapping, settings, key, cache) as JSON on stdin
    json.dump([_job(j) for j in json.load(sys.stdin)], sys.stdout)
