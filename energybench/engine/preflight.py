"""Pre-flight: everything a run needs is checked and resolved here, before anything is written.

make_config() turns YAML and flag layers into a validated RunConfig (names canonical, every
value meaning something runnable); preflight() then resolves the run itself (its methods, the
hardware model, the device, the data and every seed's scenario, the user's backbone built
once, the sharing plan) and returns those objects, which the runner and executors use as they
are: nothing is built or checked a second time.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from energybench.config import (BOUNDS, DEFAULT_IMAGE_SIZE, DEVICES, EXECUTORS, HERDING, NAME_MAX, PRECISIONS,
                                REPORT_FORMATS, SEED_MAX, RunConfig, complete, parse_config)
from energybench.config import refuse_key as _bad
from energybench.cost.arch import builtin_architectures
from energybench.cost.carbon import grids, unknown_grid
from energybench.cost.hardware import build_hardware
from energybench.cost.level_energy import HardwareModel
from energybench.cost.mappers import MAPPERS
from energybench.cost.nodes import NODES
from energybench.cost.tables import builtin_tables, check_runnable, load_energy_table, sram_cells
from energybench.data import DATASETS, IN_SHAPES, NUM_CLASSES, load_source
from energybench.data.scenario import Scenario, build_scenario, parse_split
from energybench.engine.plan import Plan, plan_sweep
from energybench.engine.ray_options import check_ray_options
from energybench.errors import UserError, canonical, shown, unknown_name
from energybench.methods import DEFAULT_METHODS, METHODS, check_methods, method_classes, resolve_method
from energybench.models import BACKBONES, build_backbone, check_backbone_name, check_input
from energybench.models.user import resolve_factory
from energybench.plugins import provenance
from energybench.trackers import check_trackers
from energybench.training.step_profile import check_step_memory

# Backbones whose layers are too small to split across CPU threads: on a busy machine, extra
# OpenMP threads make them many times slower (measured: 20x on 2 shared cores), never faster.
SMALL_BACKBONES = ("tiny_cnn", "lenet", "nin", "resnet20", "resnet32", "tiny_vit")


def make_config(*layers: dict) -> RunConfig:
    """Merge key/value layers (YAML first, then CLI flags) into a validated RunConfig."""
    cfg, explicit = parse_config(*layers)
    canonical_names(cfg)
    validate(cfg, explicit)
    return complete(cfg)


def canonical_names(cfg: RunConfig) -> None:
    """Built-in names match in any case (`--method LwF`, `dataset: CIFAR10`) and are recorded
    in their own (lower) case; a name that matches none is left for validate() to reject."""

    cfg.methods = [canonical(m, METHODS) for m in cfg.methods]
    cfg.options = {canonical(k, METHODS): v for k, v in cfg.options.items()}
    cfg.dataset = canonical(cfg.dataset, DATASETS)
    cfg.backbone = canonical(cfg.backbone, BACKBONES)
    cfg.precision = canonical(cfg.precision, PRECISIONS)
    cfg.sram_cell = canonical(cfg.sram_cell, sram_cells())
    cfg.herding = canonical(cfg.herding, HERDING)
    cfg.executor = canonical(cfg.executor, EXECUTORS)
    cfg.report_formats = [canonical(f, REPORT_FORMATS) for f in cfg.report_formats]
    cfg.trackers = [t.strip().lower() for t in cfg.trackers]
    cfg.grid = cfg.grid.strip().upper() if cfg.grid is not None else None
    cfg.device = cfg.device.strip().lower()
    if cfg.energy_table is not None and not Path(cfg.energy_table).expanduser().exists():
        cfg.energy_table = canonical(cfg.energy_table, builtin_tables())
    archs = [canonical(a, builtin_architectures()) if a is not None and not Path(a).expanduser().exists() else a
             for a in cfg.archs()]
    cfg.arch = archs if isinstance(cfg.arch, list) else archs[0]
    cfg.mapper = canonical(cfg.mapper, MAPPERS)
    if cfg.dataset != "imagefolder" and cfg.image_size == DEFAULT_IMAGE_SIZE:
        cfg.image_size = None  # older runs recorded imagefolder's default for every dataset


def validate(cfg: RunConfig, explicit: set[str] = frozenset()) -> None:
    """Every key's value means something runnable: UserError naming the key and what is allowed.
    `explicit`: the keys the user gave (an empty list given is refused, left out means all)."""
    _check_names_and_data(cfg)
    _check_sweep_and_cost(cfg, explicit)
    _check_training(cfg)
    _check_execution(cfg)


def _check_names_and_data(cfg: RunConfig) -> None:
    """Names (dataset, mapper, methods, backbone), sizes, the scenario and the data keys."""
    if cfg.dataset not in DATASETS:
        _bad("dataset", unknown_name("dataset", cfg.dataset, DATASETS))
    for key, high in BOUNDS.items():  # first: a width of 10**14 must not reach the network's shapes
        value = getattr(cfg, key)
        if value is not None and value > high:
            shown_value = f"{value:.17g}" if isinstance(value, float) else str(value)
            _bad(key, f"at most {high:g}, got {shown_value}")
    if not cfg.out.strip():
        _bad("out", f"{shown(cfg.out)} is empty; give the directory that holds run directories (default: runs)")
    if cfg.mapper not in MAPPERS:
        _bad("mapper", f"unknown mapper '{cfg.mapper}'; valid mappers: {', '.join(MAPPERS)}")
    for name in cfg.methods:
        if name not in METHODS:
            resolve_method(name)  # a module:Class or registered name imports (runs) its module: the user named it
    if len(set(cfg.methods)) != len(cfg.methods):
        _bad("methods", f"methods repeat: {', '.join(cfg.methods)}")
    if cfg.image_size is not None:
        if cfg.dataset != "imagefolder":
            _bad("image_size", f"the crop size applies to the imagefolder dataset only, not '{cfg.dataset}', "
                              "whose images keep their own size")
        if cfg.image_size < 1:
            _bad("image_size", f"must be a positive number of pixels, got {cfg.image_size}")
    sizes = parse_split(cfg.scenario, NUM_CLASSES.get(cfg.dataset), cfg.dataset)  # before any data loads
    if len(sizes) < 2:
        _bad("scenario", f"{shown(cfg.scenario)} is the base phase alone ({sizes[0]} classes), with no "
                        "incremental phase to learn or summarise; add at least one, e.g. B4-3x2 or 4,3,3")
    bad_seeds = [s for s in cfg.seeds if not 0 <= s <= SEED_MAX]
    if bad_seeds:
        _bad("seeds", f"{bad_seeds[0]} is outside 0..{SEED_MAX} (the range numpy and scikit-learn take)")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        _bad("seeds", f"seeds repeat: {', '.join(map(str, cfg.seeds))}")
    if cfg.data_root is not None and cfg.dataset == "digits":
        _bad("data_root", "digits is scikit-learn's bundled copy and reads no folder; data_root applies to "
                         "fashion-mnist, mnist, cifar10, cifar100 and imagefolder")
    if cfg.download and cfg.dataset not in ("cifar10", "cifar100"):
        _bad("download", f"only cifar10 and cifar100 can be downloaded (by torchvision), not '{cfg.dataset}'")
    if cfg.classes is not None and cfg.dataset != "imagefolder":
        _bad("classes", f"a class subset applies to the imagefolder dataset only, not '{cfg.dataset}'; "
                       "use class_order and the scenario to pick classes of other datasets")
    if cfg.backbone is not None:
        try:  # a module:factory name imports the module here: the user named it
            check_backbone_name(cfg.backbone)
        except UserError as exc:
            _bad("backbone", str(exc))
    if cfg.weights is not None and not Path(cfg.weights).expanduser().is_file():
        _bad("weights", f"{cfg.weights} is not a file (a state dict saved with torch.save(model.state_dict(), FILE))")


def _check_sweep_and_cost(cfg: RunConfig, explicit: set[str]) -> None:
    """Sharing levels, seeds, the run id and the cost model's keys."""
    for s in cfg.sharing:
        if not 0.0 <= s < 1.0:
            _bad("sharing", f"every sharing level must be in [0, 1), got {s}")
    if len(set(cfg.sharing)) != len(cfg.sharing):
        _bad("sharing", f"levels repeat: {cfg.sharing}")
    for key in ("seeds", "sharing", "report_formats"):
        if not getattr(cfg, key):
            _bad(key, "the list is empty; give at least one value")
    if "methods" in explicit and not cfg.methods:
        _bad("methods", "the list is empty; name at least one method (or leave the key out for all)")
    if cfg.run_id is not None and (not cfg.run_id or "/" in cfg.run_id or "\\" in cfg.run_id
                                   or cfg.run_id in (".", "..")):
        _bad("run_id", f"'{cfg.run_id}' must be a plain directory name (no '/', not '.' or '..')")
    if cfg.run_id is not None and len(cfg.run_id.encode("utf-8", "surrogateescape")) > NAME_MAX:
        _bad("run_id", f"{shown(cfg.run_id)} is {len(cfg.run_id.encode('utf-8', 'surrogateescape'))} bytes long; "
                      f"a directory name holds at most {NAME_MAX}")
    if cfg.sram_cell not in sram_cells():
        _bad("sram_cell", unknown_name("SRAM cell type", cfg.sram_cell, sram_cells()))
    for key, values in (("node", cfg.nodes()), ("arch", cfg.archs())):  # the hardware sweep axes
        if not values:
            _bad(key, "the list is empty; give at least one value, or leave the key out for its default")
        if len(set(values)) != len(values):
            _bad(key, f"values repeat: {', '.join(map(str, values))}")
    for node in cfg.nodes():
        if node is not None and node not in NODES:
            _bad("node", f"unknown technology node {node} nm; valid nodes (nm): {', '.join(map(str, NODES))}")
    if cfg.vdd is not None and not cfg.vdd > 0:
        _bad("vdd", f"must be a positive supply voltage, got {cfg.vdd}")
    if cfg.vdd is not None and len(cfg.nodes()) > 1:
        _bad("vdd", f"one supply ({cfg.vdd:g} V) cannot apply to several nodes ({', '.join(map(str, cfg.nodes()))} "
                    "nm): give one node with vdd, or leave vdd out (each node's own supply)")


def _check_training(cfg: RunConfig) -> None:
    """Training numbers, the network's input, the device, precision and exemplar selection."""
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) < 1:
            _bad(key, f"must be at least 1, got {getattr(cfg, key)}")
    for key in ("lr", "lr_gamma", "width", "power_rate_hz"):
        if not 0 < getattr(cfg, key) < math.inf:  # (NaN fails too)
            _bad(key, f"must be positive, got {getattr(cfg, key)}")
    for key in ("momentum", "weight_decay", "tolerance"):
        if getattr(cfg, key) < 0:
            _bad(key, f"must not be negative, got {getattr(cfg, key)}")
    if cfg.idle_seconds is not None and not 0 <= cfg.idle_seconds < math.inf:
        _bad("idle_seconds", f"must be 0 (no idle baseline) or a finite number of seconds, got {cfg.idle_seconds}")
    for key in ("train_per_class", "test_per_class", "memory_size", "memory_per_class", "memory_budget", "sram_bytes",
                "threads"):
        v = getattr(cfg, key)
        if v is not None and v < 1:
            _bad(key, f"must be at least 1, got {v}")
    shape = ((3, cfg.image_size or DEFAULT_IMAGE_SIZE, cfg.image_size or DEFAULT_IMAGE_SIZE)
             if cfg.dataset == "imagefolder" else IN_SHAPES[cfg.dataset])
    check_input(cfg.resolved_backbone(), shape, cfg.width, cfg.cifar_stem)  # too small for its pooling?
    if any(not 0 < m <= 1 for m in cfg.lr_milestones):
        _bad("lr_milestones", f"milestones are fractions of the epochs, in (0, 1]; got {cfg.lr_milestones}")
    if cfg.device not in DEVICES and not re.fullmatch(r"cuda:\d+", cfg.device):
        _bad("device", unknown_name("device", cfg.device, DEVICES) + ", or cuda:N")
    if cfg.precision not in PRECISIONS:
        _bad("precision", unknown_name("precision", cfg.precision, PRECISIONS))
    if cfg.herding not in HERDING:
        _bad("herding", unknown_name("exemplar selection", cfg.herding, HERDING))


def _check_execution(cfg: RunConfig) -> None:
    """Where cells run (executor and Ray resources), carbon, trackers, reports and the energy table."""
    check_ray_options(cfg, _bad)
    if cfg.cache_shared and cfg.augment:
        _bad("cache_shared", "caches the frozen trunk's outputs of each training image once a phase, which "
                            "augmentation changes every epoch; leave out cache_shared (--cache-shared) or augment "
                            "(--augment)")
    _validate_carbon_and_trackers(cfg, _bad)
    bad_formats = [f for f in cfg.report_formats if f not in REPORT_FORMATS]
    if bad_formats:
        _bad("report_formats", unknown_name("report format", bad_formats[0], REPORT_FORMATS))
    if cfg.energy_table is not None:
        check_runnable(load_energy_table(cfg.energy_table), PRECISIONS)




def _validate_carbon_and_trackers(cfg: RunConfig, bad) -> None:
    if cfg.carbon_intensity is not None and not 0 <= cfg.carbon_intensity < math.inf:
        bad("carbon_intensity", f"must be 0 or more grams of CO2e per kWh, got {cfg.carbon_intensity}")
    if cfg.grid is not None and cfg.grid not in grids():
        bad("grid", unknown_grid(cfg.grid))
    if cfg.grid is not None and cfg.carbon_intensity is not None:
        bad("grid", "give either a grid region (a country's published intensity) or carbon_intensity (your own), "
                    "not both")
    if cfg.pue is not None and not 1 <= cfg.pue < math.inf:
        bad("pue", f"a power usage effectiveness is 1 (no overhead) or more, got {cfg.pue}")
    if cfg.pue is not None and cfg.grid is None and cfg.carbon_intensity is None:
        bad("pue", "applies to CO2e only; give carbon_intensity (--carbon-intensity) or grid (--grid) too")
    try:
        check_trackers(cfg.trackers)
    except UserError as exc:
        bad("trackers", str(exc))
    if cfg.tracking_uri is not None and "mlflow" not in cfg.trackers:
        bad("tracking_uri", "is where the mlflow tracker writes; add --tracker mlflow")
    if cfg.tracking_uri is not None:
        from energybench.trackers.mlflow import check_uri

        try:
            check_uri(cfg.tracking_uri)
        except UserError as exc:
            bad("tracking_uri", str(exc))




def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device '{device}' was asked for but no CUDA GPU is visible to PyTorch "
                            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu or auto")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    return torch.device("cpu")


def cpu_threads(cfg: RunConfig, device: torch.device) -> int | None:
    """The CPU threads a cell trains with: the config's, else 1 for the small backbones on CPU."""
    return cfg.threads or (1 if device.type == "cpu" and cfg.resolved_backbone() in SMALL_BACKBONES else None)


def check_buildable(name: str, in_shape, width: float, cifar_stem: bool, weights: str | None) -> dict | None:
    """Build a user's backbone (and load --weights) once before anything is written, so a broken
    factory or weights file stops the run with its message; returns the user code's provenance
    for the manifest (None for a built-in)."""
    if name in BACKBONES and not weights:
        return None
    build_backbone(name, in_shape, width, cifar_stem, weights)
    if name in BACKBONES:
        return None
    return {"name": name, **provenance(resolve_factory(name))}


def check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written (read-only filesystem, no permission,
    /proc...) before any data loads: a probe file is made in the nearest existing folder and
    removed at once."""
    probe = Path(folder)
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise UserError(f"cannot write run directories under {folder}: {probe} is a file")
        with tempfile.TemporaryFile(dir=probe, prefix=".energybench-probe-"):
            pass
        if probe != Path(folder):  # the folders still to be made must be makeable there too
            made = Path(tempfile.mkdtemp(dir=probe, prefix=".energybench-probe-"))
            made.rmdir()
    except OSError as exc:
        raise UserError(f"cannot write run directories under {folder}: {probe} is not writable "
                        f"({os.strerror(exc.errno) if exc.errno else exc}); choose another --out") from None


@dataclass
class Resolved:
    """A run, checked and resolved: what the runner and its executor work with."""

    cfg: RunConfig  # with its methods listed (recorded so, a resume reads the same list)
    classes: dict[str, type]  # each method by its class's name (a user's module:Class too), in order
    device: torch.device  # where the driver reads and writes states (and, locally, trains)
    threads: int | None
    hardware_points: list[HardwareModel]  # the energy table at each (node, arch) of cfg.hardware_points()
    source: object  # the loaded data (data.load_source)
    scenarios: dict[int, Scenario]  # every seed's
    backbone_code: dict | None  # a user's backbone: where its code came from
    plan: Plan

    @property
    def hardware(self) -> HardwareModel:
        """The sweep's first hardware point: the one the manifest and the report's figures describe."""
        return self.hardware_points[0]

    @property
    def methods(self) -> list[str]:
        return list(self.classes)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.source.in_shape


def preflight(cfg: RunConfig, driver_device, resume: Path | None = None) -> Resolved:
    """Check and resolve a validated config's run before anything is written; `driver_device(cfg)`
    is the executor's choice of the driver's device. The data load here, once."""
    specs = cfg.methods or list(DEFAULT_METHODS)
    cfg = replace(cfg, methods=specs)
    classes = method_classes(specs)  # names first, before any data loads
    device = driver_device(cfg)
    threads = cpu_threads(cfg, device)
    if threads:
        torch.set_num_threads(threads)
    # every (node, arch) point, before anything is written: an unknown architecture fails here
    hardware = [build_hardware(cfg.energy_table, node, cfg.vdd, arch, cfg.precision, cfg.sram_cell, cfg.sram_bytes,
                               cfg.mapper) for node, arch in cfg.hardware_points()]
    if resume is None:  # (a resume's directory: its lock says whether it is read-only)
        check_writable(Path(cfg.out))
    source = load_source(cfg.dataset, cfg.data_root, cfg.download, cfg.classes, cfg.image_size)
    backbone_code = check_buildable(cfg.resolved_backbone(), source.in_shape, cfg.width, cfg.cifar_stem, cfg.weights)
    # Every seed's scenario now, so a bad split fails before anything is written.
    scenarios = {seed: build_scenario(source, cfg.scenario, cfg.class_order, seed, cfg.train_per_class,
                                      cfg.test_per_class) for seed in cfg.seeds}
    first = next(iter(scenarios.values()))
    if first.sizes[0] == 1:  # legal, but its base phase is a no-op the user should know of
        warnings.warn(f"scenario {cfg.scenario}: phase 0 has one class, and cross-entropy over one class is 0 "
                      "whatever the network: the base phase learns nothing (its 100% accuracy is trivially true), "
                      "and every later phase starts from an untrained network; start with two classes or more")
    # Every method's options, the scenario-dependent ones (progressive's stage rule) and the memory too.
    check_methods(specs, cfg.options, first.sizes, cfg)
    # The cut of every level, on the real backbone and input: a network that cannot take the
    # input fails here, and levels that land on the same cut are trained once.
    plan = plan_sweep(list(classes), cfg.seeds, cfg.sharing, len(first.phases), cfg.resolved_backbone(),
                      source.in_shape, first.sizes[0], cfg.width, cfg.cifar_stem)
    if cfg.executor == "local":  # (Ray's workers may be on other machines, with other memory)
        # a batch this machine cannot hold stops here, not in the kernel's OOM killer mid-run
        # (no batch is larger than the scenario's training set)
        batch = min(cfg.batch_size, sum(len(p.train_idx) for p in first.phases))
        check_step_memory(cfg.resolved_backbone(), source.in_shape, first.num_classes, batch, device,
                          width=cfg.width, cifar_stem=cfg.cifar_stem, advice="give a smaller --batch-size",
                          sampled=True)
    unused = [name for name in cfg.options if name not in classes]
    if unused:  # a shared config file's options for methods this run leaves out: harmless, but said (once all is
        # checked: a refused run says only why)
        warnings.warn(f"options for {', '.join(unused)} are not used: not among this run's methods "
                      f"({', '.join(classes)})")
    return Resolved(cfg, classes, device, threads, hardware, source, scenarios, backbone_code, plan)
