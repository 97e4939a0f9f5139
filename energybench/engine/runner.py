"""Runs and sweeps: every (seed, method, sharing) cell, phase by phase, resumable.

Phase 0 does not depend on sharing, so it is trained once per (seed, method) and every
sharing level branches from a copy of it (kept on disk, so a resumed sweep reuses it too).
A cell's rows are appended as each phase ends, and its state (method, RNG states) is saved
with them, so a resumed run continues an unfinished cell after its last finished phase, with
the numbers an unbroken run computes; finished cells are never recomputed.
"""

from __future__ import annotations

import copy
import datetime as dt
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from energybench.config import RunConfig, to_dict
from energybench.confusion import render_confusion
from energybench.cost.hardware import build_hardware
from energybench.cost.ledger import CostLedger
from energybench.cost.memory_model import storage_bytes
from energybench.data import load_source
from energybench.data.augment import default_augment
from energybench.data.scenario import Scenario, build_scenario
from energybench.engine.manifest import build_manifest
from energybench.engine.store import RunStore, save_state
from energybench.errors import UserError
from energybench.files import atomic_write
from energybench.methods import METHODS, check_methods
from energybench.methods.base import Context, Method
from energybench.training.evaluate import evaluate, forgetting
from energybench.training.trainer import Trainer

# Backbones whose layers are too small to split across CPU threads: on a busy machine, extra
# OpenMP threads make them many times slower (measured: 20x on 2 shared cores), never faster.
SMALL_BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' was asked for but no CUDA GPU is visible to PyTorch "
                            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device '{name}': only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    return torch.device("cpu")


def open_store(cfg: RunConfig, resume: Path | None) -> RunStore:
    """A new run directory, or an existing one whose recorded config matches."""
    if resume is not None:
        if not Path(resume).is_dir():
            raise UserError(f"cannot resume {resume}: no such directory")
        store = RunStore(resume)
        if store.read_config() is None:
            raise UserError(f"cannot resume {resume}: no config.yaml there (is it a run directory?)")
        return store
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory to hold run directories")
    run_id = cfg.run_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{cfg.dataset}"
    root = out / run_id
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file, not a run directory; choose another --run-id")
    store = RunStore(root)
    recorded = store.read_config()
    if recorded is None and root.is_dir() and any(root.iterdir()):
        raise UserError(f"{root} exists and is not a run directory (no config.yaml); it is left untouched: "
                        "choose another --run-id or --out")
    if recorded is not None:
        wanted = to_dict(replace(cfg, run_id=run_id))
        differ = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        if differ:
            raise UserError(f"{root} already holds a run with a different configuration (differs in: "
                            f"{', '.join(differ)}); choose another --run-id, or continue it with --resume {root}")
    return store


class Runner:
    def __init__(self, cfg: RunConfig, resume: Path | None = None, progress: bool = True, log=print):
        check_methods(cfg.methods, cfg.options)  # every method's options, before any cell starts
        self.cfg = cfg
        self.progress = progress
        self.log = log
        self.device = resolve_device(cfg.device)
        threads = cfg.threads or (1 if self.device.type == "cpu" and cfg.resolved_backbone() in SMALL_BACKBONES
                                  else None)
        if threads:
            torch.set_num_threads(threads)
        # the energy table at the run's node and the architecture: fail early on a bad one
        self.hardware = build_hardware(cfg.energy_table, cfg.node, cfg.vdd, cfg.arch, cfg.precision, cfg.sram_cell,
                                       cfg.sram_bytes)
        self.table = self.hardware.table
        self._levels_csv = ""  # the last phase's per-layer, per-level energies
        self.store = open_store(cfg, resume)
        if resume is None:
            self.cfg = cfg = replace(cfg, run_id=self.store.run_id)
        self.methods = cfg.methods or list(METHODS)
        self.source = load_source(cfg.dataset, cfg.data_root, cfg.download, cfg.classes, cfg.image_size)
        # Build every seed's scenario now, so a bad split fails before anything is written.
        self.scenarios = {seed: build_scenario(self.source, cfg.scenario, cfg.class_order, seed,
                                               cfg.train_per_class, cfg.test_per_class) for seed in cfg.seeds}
        self.monitor = None

    # ----- whole run ------------------------------------------------------------------------
    def run(self) -> Path:
        cfg = self.cfg
        self.store.write_config(to_dict(cfg))
        manifest = build_manifest(self.device)
        self._start_power()
        try:
            for seed, scenario in self.scenarios.items():
                manifest.setdefault("class_order", {})[str(seed)] = scenario.class_order
                manifest.update(dataset=self.source.name, data_location=self.source.location,
                                scenario=scenario.sizes, class_names=scenario.class_names,
                                backbone=cfg.resolved_backbone(), energy_table=self.table.describe(),
                                hardware=self.hardware.describe(), seeds=cfg.seeds)
                self.store.write_manifest(manifest)
                for name in self.methods:
                    self._run_method(name, seed, scenario)
        finally:
            self._stop_power()
        self._write_summary()
        return self.store.root

    # ----- one (seed, method): base phase once, then every sharing level ----------------------
    def _run_method(self, name: str, seed: int, scenario: Scenario) -> None:
        cls = METHODS[name]
        n = len(scenario.phases)
        todo = [s for s in self.cfg.sharing if not self.store.complete(name, s, seed, n)]
        for s in set(self.cfg.sharing) - set(todo):  # left behind by a stop just before a cell's end
            self.store.progress_checkpoint(name, s, seed).unlink(missing_ok=True)
        if not todo:
            self.log(f"{name} seed {seed}: all sharing levels already done, skipping")
            return
        base = None
        for s in todo:
            trainer = self._trainer(scenario, seed + 1)
            saved = self._progress(name, s, seed)
            if saved is not None:
                method, history, accs = saved["method"], saved["history"], saved["accs"]
                trainer.gen.set_state(saved["trainer_rng"].cpu())  # map_location may have moved them
                torch.set_rng_state(saved["torch_rng"].cpu())
                self.log(f"{name} sharing {s:g} seed {seed}: resuming after phase {len(accs) - 1}")
            else:
                base = base or self._base_phase(cls, seed, scenario)
                method = copy.deepcopy(base["method"])
                torch.manual_seed(seed + 1)  # every sharing level continues from the same RNG state
                history = [list(base["group_acc"])]
                row0 = {**base["row"], "sharing": s, "reused_base": s != todo[0] or base["loaded"]}
                if base.get("confusion"):  # (base checkpoints of older runs have none)
                    self._save_confusion(name, s, seed, 0, base["confusion"])
                if base.get("energy_levels"):
                    self._save_levels(name, s, seed, 0, base["energy_levels"])
                self.store.append(row0)
                accs = [row0["acc_all"]]
            method.attach(self._context(scenario, trainer, seed, s, name))
            for phase in scenario.phases[len(accs):]:
                row, res = self._phase(method, trainer, scenario, phase, name, s, seed)
                self._save_confusion(name, s, seed, phase.index, render_confusion(res.confusion, scenario.class_names))
                self._save_levels(name, s, seed, phase.index, self._levels_csv)
                history.append(res.group_acc)
                accs.append(row["acc_all"])
                row.update(avg_inc_acc=float(np.mean(accs)), forgetting=forgetting(history))
                self.store.append(row)
                self.log(f"{name} sharing {s:g} seed {seed} phase {phase.index}: acc {row['acc_all']:.2f}% "
                         f"(old {row['acc_old']:.2f}, new {row['acc_new']:.2f}), "
                         f"{row['train_macs']:.3g} train MACs, {row['compute_energy_j']:.3g} J computed")
                if phase.index < n - 1:  # an interruption from here on loses no finished phase
                    save_state(self.store.progress_checkpoint(name, s, seed),
                               {"method": method, "history": history, "accs": accs,
                                "trainer_rng": trainer.gen.get_state(), "torch_rng": torch.get_rng_state()})
            self.store.progress_checkpoint(name, s, seed).unlink(missing_ok=True)
            self._write_summary()

    def _progress(self, name: str, sharing: float, seed: int) -> dict | None:
        """The saved state of an unfinished cell whose rows it matches; otherwise the cell's rows are
        dropped and None says to start it again from the base phase."""
        path = self.store.progress_checkpoint(name, sharing, seed)
        saved = torch.load(path, map_location=self.device, weights_only=False) if path.is_file() else None
        last = len(saved["accs"]) - 1 if saved else -1
        if saved is None or not self.store.phases_done(name, sharing, seed) >= set(range(last + 1)):
            self.store.drop_partial(name, sharing, seed)
            return None
        self.store.drop_partial(name, sharing, seed, keep_upto=last)  # rows written after the save
        return saved

    def _save_confusion(self, name: str, sharing: float, seed: int, phase: int, text: str) -> None:
        atomic_write(self.store.cell_dir(name, sharing, seed) / f"confusion_phase{phase}.csv", text)

    def _save_levels(self, name: str, sharing: float, seed: int, phase: int, text: str) -> None:
        atomic_write(self.store.cell_dir(name, sharing, seed) / f"energy_levels_phase{phase}.csv", text)

    def _base_phase(self, cls: type[Method], seed: int, scenario: Scenario) -> dict:
        path = self.store.base_checkpoint(cls.name, seed)
        if path.is_file():
            saved = torch.load(path, map_location=self.device, weights_only=False)
            self.log(f"{cls.name} seed {seed}: reusing base phase from {path}")
            return {**saved, "loaded": True}
        torch.manual_seed(seed)
        trainer = self._trainer(scenario, seed)
        method = cls(self._context(scenario, trainer, seed, self.cfg.sharing[0], cls.name))
        row, res = self._phase(method, trainer, scenario, scenario.phases[0], cls.name, 0.0, seed)
        row.update(avg_inc_acc=row["acc_all"], forgetting=float("nan"))
        self.log(f"{cls.name} seed {seed} phase 0 (base, shared by every sharing level): acc {row['acc_all']:.2f}%, "
                 f"{row['train_macs']:.3g} train MACs, {row['compute_energy_j']:.3g} J computed")
        chance = 100.0 / scenario.phases[0].seen
        if row["iters"] and row["acc_all"] < 2 * chance:  # (`scratch` trains nothing before the end)
            # Every later phase branches from this network: an untrained base makes the sweep meaningless.
            warnings.warn(f"{cls.name} seed {seed}: phase 0 reached {row['acc_all']:.1f}% on "
                          f"{scenario.phases[0].seen} classes (chance {chance:.1f}%); the base network looks "
                          f"undertrained, raise --epochs (now {self.cfg.epochs}) or adjust --lr")
        saved = {"method": method, "row": row, "group_acc": res.group_acc,
                 "confusion": render_confusion(res.confusion, scenario.class_names), "energy_levels": self._levels_csv}
        save_state(path, saved)
        return {**saved, "method": copy.deepcopy(method), "loaded": False}

    def _phase(self, method: Method, trainer: Trainer, scenario: Scenario, phase, name: str, sharing: float,
               seed: int):
        cfg = self.cfg
        trainer.begin_phase()
        window = self.monitor.window(f"{name} s{sharing:g} seed{seed} phase{phase.index}") if self.monitor else None
        if window is not None:
            window.__enter__()
        try:
            method.begin_phase(phase)
            method.learn(phase)
            method.end_phase(phase)
        finally:
            if window is not None:
                window.__exit__(None, None, None)
        ledger: CostLedger = trainer.end_phase()
        res = evaluate(method, scenario, phase, trainer, self.device)
        primary = res.primary
        row = {
            "method": name, "sharing": sharing, "seed": seed, "phase": phase.index,
            "sharing_achieved": method.cut.achieved if method.cut else 0.0,
            "shared_blocks": method.cut.blocks if method.cut else 0,
            "classes_seen": phase.seen, "new_classes": len(phase.classes),
            "acc_all": res.acc[primary], "acc_old": res.acc_old[primary], "acc_new": res.acc_new[primary],
            "iters": trainer.iters, "train_time_s": trainer.train_time_s,
            "time_per_iter_s": trainer.train_time_s / trainer.iters if trainer.iters else float("nan"),
            "train_cpu_s": trainer.train_cpu_s,  # unlike wall-clock time, not inflated by other processes
            "cache_shared": trainer.cached_trunk,  # trained on cached trunk outputs (not just asked to)
        }
        for clf in list(res.acc)[1:]:
            row.update({f"acc_{clf}": res.acc[clf], f"acc_{clf}_old": res.acc_old[clf],
                        f"acc_{clf}_new": res.acc_new[clf]})
        store_bytes = storage_bytes(method.storage_modules(), method.exemplar_bytes(), cfg.precision)
        row.update(ledger.row(self.table, cfg.precision, store_bytes, sram_cell=cfg.sram_cell,
                              sram_bytes=cfg.sram_bytes, hardware=self.hardware, time_s=trainer.train_time_s),
                   precision=cfg.precision)
        self._levels_csv = ledger.breakdown_csv(self.hardware)
        row.update(window.result if window is not None else {})
        row.update(method.extra)
        method.extra = {}
        return row, res

    # ----- plumbing -------------------------------------------------------------------------
    def _trainer(self, scenario: Scenario, seed: int) -> Trainer:
        cfg = self.cfg
        augment = default_augment(cfg.dataset, scenario.source.in_shape) if cfg.augment else None
        return Trainer(scenario, self.device, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                       momentum=cfg.momentum, weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones,
                       gamma=cfg.lr_gamma, augment=augment, seed=seed, progress=self.progress)

    def _context(self, scenario, trainer, seed, sharing, name) -> Context:
        cell = self.store.cell_dir(name, sharing, seed)
        return Context(self.cfg, scenario, self.device, trainer, seed, sharing, cell)

    def _start_power(self) -> None:
        if not self.cfg.power:
            return
        if self.device.type == "cuda":
            torch.zeros(1, device=self.device)  # initialise CUDA so NVML matches the GPU by UUID
        try:
            from energybench.power.monitor import PowerMonitor
        except ImportError as exc:  # the measurement layer is optional at run time
            warnings.warn(f"power measurement unavailable: {exc}")
            return
        self.monitor = PowerMonitor(device=self.device, rate_hz=self.cfg.power_rate_hz,
                                    idle_seconds=self.cfg.idle_seconds, trace_path=self.store.root / "power_trace.csv")
        self.monitor.start()

    def _stop_power(self) -> None:
        if self.monitor is not None:
            self.monitor.close()

    def _write_summary(self) -> None:
        from energybench.engine.summary import write_summary

        write_summary(self.store, self.cfg)
