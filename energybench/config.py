"""Experiment configuration: one dataclass, loaded from YAML and/or CLI flags, validated.

Every key is checked: an unknown key names itself and the valid keys, a bad value names
the key and what is allowed. The fully resolved config is what a run directory records.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import UserError, canonical, did_you_mean, shown, unknown_name
from energybench.user_yaml import load_user_yaml

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int16", "int32")  # those the built-in tables price
DEVICES = ("auto", "cpu", "cuda")
HERDING = ("herding", "random")
REPORT_FORMATS = ("html", "pdf")


@dataclass
class RunConfig:
    # what to run
    methods: list[str] = field(default_factory=list)  # empty = every registered method
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    classes: list[str] | None = None  # imagefolder class subset
    image_size: int | None = None  # imagefolder crop size (DEFAULT_IMAGE_SIZE when not given)
    scenario: str | list[int] = "B4-3x2"
    class_order: str | list[int] | None = "seeded"
    train_per_class: int | None = None
    test_per_class: int | None = None
    # network
    backbone: str | None = None  # None = the dataset's default; a built-in, a registered name or module:factory
    width: float = 1.0
    cifar_stem: bool = False
    weights: str | None = None  # a local state dict loaded into the backbone before phase 0
    # training
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_milestones: list[float] = field(default_factory=lambda: [0.6, 0.85])  # fractions of epochs
    lr_gamma: float = 0.1
    augment: bool = False
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    threads: int | None = None  # CPU threads; None = 1 for the small backbones on CPU, else PyTorch's default
    # sharing
    sharing: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.8])  # tiny_cnn: 0, 17.6 and 84.9 % shared
    tolerance: float = 1.0  # percentage points, for the optimal sharing point
    cache_shared: bool = False
    # exemplar memory (methods that keep one)
    memory_size: int | None = None
    memory_per_class: int | None = 20
    # bytes of stored model + exemplars (each exemplar method keeps what its model leaves); wins over the two above
    memory_budget: int | None = None
    herding: str = "herding"
    # per-method options, e.g. {"lucir": {"lambda_base": 5.0}}
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # cost model
    precision: str = "fp32"
    energy_table: str | None = None
    sram_cell: str = "itrs-lstp"
    sram_bytes: int | None = None
    node: int | None = None  # technology node (nm); None = the energy table's own (45)
    vdd: float | None = None  # logic supply (V); None = the table's own at its node, else the node's nominal
    arch: str | None = None  # architecture file or built-in name; None = layer_buffer (per-layer buffer + DRAM)
    mapper: str = "analytic"  # who maps each (layer, pass) onto the architecture: analytic, zigzag
    # measurement
    power: bool = True
    power_rate_hz: float = 10.0
    idle_seconds: float | None = None  # idle baseline before phase 0: None = a few seconds if a sensor exists; 0 = off
    # carbon: CO2e = energy (kWh) x g_per_kwh x pue, from carbon_intensity or a country's grid (cost/carbon.py)
    carbon_intensity: float | None = None  # g CO2e per kWh
    grid: str | None = None  # ISO 3166-1 alpha-3 country code, e.g. FRA
    pue: float | None = None  # power usage effectiveness of the data centre; None = 1 (no overhead)
    # experiment trackers fed as phases finish (not part of the results: energybench/trackers/)
    trackers: list[str] = field(default_factory=list)  # mlflow, tensorboard
    tracking_uri: str | None = None  # an MLflow server or store; None = a store in the run directory
    # execution: where cells run (not part of the results: a run may resume under another executor)
    executor: str = "local"  # local (this process) or ray
    workers: int | None = None  # an embedded Ray cluster of this many workers on this machine
    ray_address: str | None = None  # join a running Ray cluster: host:port, or auto (RAY_ADDRESS)
    gpus_per_cell: float | None = None  # Ray resources of one cell; None = 1 on CUDA, 0 on CPU
    cpus_per_cell: float = 1.0
    # output
    out: str = "runs"
    run_id: str | None = None
    report: bool = True
    report_formats: list[str] = field(default_factory=lambda: ["html", "pdf"])

    def resolved_backbone(self) -> str:
        return self.backbone or DEFAULT_BACKBONE.get(self.dataset, "resnet18")


DEFAULT_BACKBONE = {"digits": "tiny_cnn", "fashion-mnist": "resnet20", "mnist": "resnet20",
                    "cifar10": "resnet32", "cifar100": "resnet32", "imagefolder": "resnet18"}

# Keys that say how a run is carried out, not what it computes: they may differ between a run
# and its resumption, and between two invocations writing the same run directory.
EXECUTION_KEYS = ("executor", "workers", "ray_address", "gpus_per_cell", "cpus_per_cell", "report", "report_formats",
                  "trackers", "tracking_uri")
EXECUTORS = ("local", "ray")
DEFAULT_IMAGE_SIZE = 224
# Seeds go to torch generators and to numpy/scikit-learn (tree's spectral clustering), whose
# RandomState takes 0..2**32-1: the range every seed must be in.
SEED_MAX = 2**32 - 1
NAME_MAX = 255  # bytes in one file or directory name (Linux, macOS, Windows)
MAX_THREADS = 4096  # OpenMP allocates per thread up front: 10**9 threads ask it for 200 GB
# Upper bounds of the sizes that scale memory or time (README, "Reliability"): far above any
# real run, low enough that a typo (an extra zero or five) stops here, not after hours or after
# gigabytes. --workers is bounded by this machine's CPUs, each worker being a process.
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_WIDTH = 16.0  # resnet32 at 16x: 1,024 channels in its last stage, 119 M parameters (0.47 M at 1x)
MAX_IMAGE_SIZE = 1024  # pixels a side; activations grow with its square (224 is ImageNet's)
MAX_IDLE_SECONDS = 3600.0
MAX_POWER_RATE_HZ = 1000.0  # RAPL updates about every ms, NVML's power every 20-100 ms: faster only grows the trace
BOUNDS = {"epochs": MAX_EPOCHS, "batch_size": MAX_BATCH_SIZE, "width": MAX_WIDTH, "image_size": MAX_IMAGE_SIZE,
          "idle_seconds": MAX_IDLE_SECONDS, "threads": MAX_THREADS,
          "power_rate_hz": MAX_POWER_RATE_HZ}  # the lower ends are checked below


def max_workers() -> int:
    """Ray workers one machine may start for --workers: one process per CPU."""
    return os.cpu_count() or 1

# Keys accepted under their older or plural/singular spellings in YAML and on the CLI.
ALIASES = {"method": "methods", "seed": "seeds", "batch": "batch_size", "tracker": "trackers"}
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _whole(value) -> int:
    """A whole number from YAML or a flag: 3, '3', 3.0 or '3.0'; never True, 3.5, NaN or inf."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    number = float(value)
    if not math.isfinite(number) or number != int(number):
        raise ValueError(value)
    return int(number)


def _finite(value) -> float:
    """A finite number (NaN and infinity would train to chance accuracy, or crash at the end)."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _as_list(key: str, value, kind):
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    convert = {int: _whole, float: _finite}.get(kind, kind)
    what = {int: "a whole number", float: "a finite number", str: "a name"}[kind]
    if not isinstance(value, (list, tuple, str, int, float)) or isinstance(value, bool):
        raise UserError(f"config key '{key}' must be a list (or a comma-separated string), got {shown(value)}")
    if isinstance(value, str) and not value.strip():
        return []  # no items at all: validate() says the list is empty where that matters
    out = []
    for i, v in enumerate(items):
        where = f" (in {shown(value)})" if len(items) > 1 else ""
        if isinstance(v, (list, tuple, dict)) or (kind is not str and isinstance(v, bool)):
            raise UserError(f"config key '{key}': {shown(v)}{where} is not {what}")
        if v is None or str(v).strip() == "":  # `0,,0.5`: a value left out, not one to skip silently
            raise UserError(f"config key '{key}': item {i + 1} of {shown(value)} is empty; give {what} "
                            f"between every two commas")
        try:
            out.append(convert(v.strip()) if isinstance(v, str) else convert(v))
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"config key '{key}': {shown(v)}{where} is not {what}") from None
    return out


def _class_order(value):
    """'seeded', 'natural', 'pycil' (any case) or a list of class indices (also '3,1,0,2')."""
    if isinstance(value, str) and value.strip().lower() in ("seeded", "natural", "pycil"):
        return value.strip().lower()
    if (isinstance(value, str) and "," in value) or isinstance(value, (list, tuple)):
        order = _as_list("class_order", value, int)
        negative = [c for c in order if c < 0]
        if negative:
            raise UserError(f"config key 'class_order': class indices are 0 or more, got {negative[0]}")
        return order
    raise UserError(f"config key 'class_order' must be 'seeded', 'natural', 'pycil' or a list of class indices "
                    f"(e.g. [3, 1, 0, 2] or 3,1,0,2), got {shown(value)}")


def _scenario(value):
    """B4-3x2 notation, a comma list, or a YAML list of class counts; parsed by data.scenario."""
    if isinstance(value, (list, tuple)):
        return _as_list("scenario", value, int)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UserError(f"config key 'scenario' must be B<base>-<step>x<phases> (e.g. B4-3x2), "
                        f"B<base>-<n>-<n>... or a list of class counts, got {shown(value)}")
    return value


def _coerce(key: str, value):
    """Turn a YAML or CLI value into the field's type, or explain why not."""
    if value is None:
        return None
    if isinstance(value, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UserError(f"config key '{key}': {shown(value)} contains a control character")
    if key in ("methods", "report_formats", "trackers"):
        return _as_list(key, value, str)
    if key == "seeds":
        return _as_list(key, value, int)
    if key in ("sharing", "lr_milestones"):
        return _as_list(key, value, float)
    if key == "classes":
        return _as_list(key, value, str)
    if key == "options":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise UserError("config key 'options' must map method names to option mappings, "
                            "e.g. options: {lucir: {lambda_base: 5.0}}")
        return value
    if key == "class_order":
        return _class_order(value)
    if key == "scenario":
        return _scenario(value)
    default = FIELDS[key].default
    typ = next((t for t in (bool, int, float) if isinstance(default, t)), None)
    if typ is None:  # optional numbers (default None) take the type their annotation names
        typ = {"int | None": int, "float | None": float}.get(str(FIELDS[key].type))
    if typ is None and not isinstance(value, (str, int, float)):  # a name or a path
        raise UserError(f"config key '{key}' must be a single value, got {shown(value)}")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).lower() in ("false", "no", "0", "off"):
            return False
        raise UserError(f"config key '{key}' must be true or false, got {shown(value)}")
    if typ in (int, float):
        what = "an integer" if typ is int else "a number"
        if isinstance(value, bool):  # YAML's `true` is not a count
            raise UserError(f"config key '{key}' must be {what}, got {shown(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"config key '{key}' must be {what}, got {shown(value)}") from None
        if not math.isfinite(number):
            raise UserError(f"config key '{key}' must be a finite number, got {shown(value)}")
        if typ is int:
            try:
                return _whole(value)
            except (TypeError, ValueError):
                raise UserError(f"config key '{key}' must be a whole number, got {shown(value)}") from None
        return number
    return str(value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    data = load_user_yaml(p, f"config file {p}") or {}
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must be a mapping of keys to values")
    if {"base", "arms"} <= set(data):  # experiments/*_study.yaml, *_ablation.yaml
        raise UserError(f"config file {p} is a study of several runs (base and arms), not one run's config; "
                        f"run it with: python scripts/ablation.py {p} --out DIR")
    return data


def make_config(*layers: dict[str, Any]) -> RunConfig:
    """Merge key/value layers (YAML first, then CLI flags) into a validated RunConfig."""
    values: dict[str, Any] = {}
    for layer in layers:
        for raw_key, value in layer.items():
            key = ALIASES.get(raw_key, raw_key)
            if key not in FIELDS:
                hint = did_you_mean(raw_key, list(FIELDS) + list(ALIASES))
                raise UserError(f"unknown config key {shown(raw_key)}{hint}; valid keys: {', '.join(sorted(FIELDS))}")
            values[key] = _coerce(key, value)
    if "executor" not in values and (values.get("workers") is not None or values.get("ray_address") is not None):
        values["executor"] = "ray"  # --workers N or --ray-address alone means Ray
    cfg = RunConfig(**{k: v for k, v in values.items() if v is not None or FIELDS[k].default is None})
    _canonical_names(cfg)
    validate(cfg, set(values))
    if cfg.dataset == "imagefolder" and cfg.image_size is None:
        cfg.image_size = DEFAULT_IMAGE_SIZE
    # Paths are recorded absolute, so `--resume` works from any directory.
    for key in ("data_root", "out", "weights"):
        if getattr(cfg, key):
            setattr(cfg, key, str(Path(getattr(cfg, key)).expanduser().resolve()))
    for key in ("energy_table", "arch"):
        if getattr(cfg, key) and Path(getattr(cfg, key)).expanduser().is_file():
            setattr(cfg, key, str(Path(getattr(cfg, key)).expanduser().resolve()))
    return cfg


def _canonical_names(cfg: RunConfig) -> None:
    """Built-in names match in any case (`--method LwF`, `dataset: CIFAR10`) and are recorded
    in their own (lower) case; a name that matches none is left for validate() to reject."""
    from energybench.cost.arch import builtin_architectures
    from energybench.cost.mappers import MAPPERS
    from energybench.cost.tables import builtin_tables, sram_cells
    from energybench.data import DATASETS
    from energybench.methods import METHODS
    from energybench.models import BACKBONES

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
    if cfg.arch is not None and not Path(cfg.arch).expanduser().exists():
        cfg.arch = canonical(cfg.arch, builtin_architectures())
    cfg.mapper = canonical(cfg.mapper, MAPPERS)
    if cfg.dataset != "imagefolder" and cfg.image_size == DEFAULT_IMAGE_SIZE:
        cfg.image_size = None  # older runs recorded imagefolder's default for every dataset


def validate(cfg: RunConfig, explicit: set[str] = frozenset()) -> None:
    from energybench.cost.mappers import MAPPERS
    from energybench.data import DATASETS, IN_SHAPES, NUM_CLASSES
    from energybench.data.scenario import parse_split
    from energybench.methods import METHODS, resolve_method
    from energybench.models import check_backbone_name, check_input

    def bad(key, msg):
        raise UserError(f"config key '{key}': {msg}")

    if cfg.dataset not in DATASETS:
        bad("dataset", unknown_name("dataset", cfg.dataset, DATASETS))
    for key, high in BOUNDS.items():  # first: a width of 10**14 must not reach the network's shapes
        value = getattr(cfg, key)
        if value is not None and value > high:
            shown_value = f"{value:.17g}" if isinstance(value, float) else str(value)
            bad(key, f"at most {high:g}, got {shown_value}")
    if cfg.workers is not None and cfg.workers > max_workers():
        bad("workers", f"at most {max_workers()} (this machine's CPUs; each worker is a process), got "
                       f"{cfg.workers}; to use more, start a Ray cluster over several machines and give ray_address")
    if not cfg.out.strip():
        bad("out", f"{shown(cfg.out)} is empty; give the directory that holds run directories (default: runs)")
    if cfg.mapper not in MAPPERS:
        bad("mapper", f"unknown mapper '{cfg.mapper}'; valid mappers: {', '.join(MAPPERS)}")
    for name in cfg.methods:
        if name not in METHODS:
            resolve_method(name)  # a module:Class or registered name imports (runs) its module: the user named it
    if len(set(cfg.methods)) != len(cfg.methods):
        bad("methods", f"methods repeat: {', '.join(cfg.methods)}")
    if cfg.image_size is not None:
        if cfg.dataset != "imagefolder":
            bad("image_size", f"the crop size applies to the imagefolder dataset only, not '{cfg.dataset}', "
                              "whose images keep their own size")
        if cfg.image_size < 1:
            bad("image_size", f"must be a positive number of pixels, got {cfg.image_size}")
    sizes = parse_split(cfg.scenario, NUM_CLASSES.get(cfg.dataset), cfg.dataset)  # before any data loads
    if len(sizes) < 2:
        bad("scenario", f"{shown(cfg.scenario)} is the base phase alone ({sizes[0]} classes), with no "
                        "incremental phase to learn or summarise; add at least one, e.g. B4-3x2 or 4,3,3")
    bad_seeds = [s for s in cfg.seeds if not 0 <= s <= SEED_MAX]
    if bad_seeds:
        bad("seeds", f"{bad_seeds[0]} is outside 0..{SEED_MAX} (the range numpy and scikit-learn take)")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        bad("seeds", f"seeds repeat: {', '.join(map(str, cfg.seeds))}")
    if cfg.data_root is not None and cfg.dataset == "digits":
        bad("data_root", "digits is scikit-learn's bundled copy and reads no folder; data_root applies to "
                         "fashion-mnist, mnist, cifar10, cifar100 and imagefolder")
    if cfg.download and cfg.dataset not in ("cifar10", "cifar100"):
        bad("download", f"only cifar10 and cifar100 can be downloaded (by torchvision), not '{cfg.dataset}'")
    if cfg.classes is not None and cfg.dataset != "imagefolder":
        bad("classes", f"a class subset applies to the imagefolder dataset only, not '{cfg.dataset}'; "
                       "use class_order and the scenario to pick classes of other datasets")
    if cfg.backbone is not None:
        try:  # a module:factory name imports the module here: the user named it
            check_backbone_name(cfg.backbone)
        except UserError as exc:
            bad("backbone", str(exc))
    if cfg.weights is not None and not Path(cfg.weights).expanduser().is_file():
        bad("weights", f"{cfg.weights} is not a file (a state dict saved with torch.save(model.state_dict(), FILE))")
    for s in cfg.sharing:
        if not 0.0 <= s < 1.0:
            bad("sharing", f"every sharing level must be in [0, 1), got {s}")
    if len(set(cfg.sharing)) != len(cfg.sharing):
        bad("sharing", f"levels repeat: {cfg.sharing}")
    for key in ("seeds", "sharing", "report_formats"):
        if not getattr(cfg, key):
            bad(key, "the list is empty; give at least one value")
    if "methods" in explicit and not cfg.methods:
        bad("methods", "the list is empty; name at least one method (or leave the key out for all)")
    if cfg.run_id is not None and (not cfg.run_id or "/" in cfg.run_id or "\\" in cfg.run_id
                                   or cfg.run_id in (".", "..")):
        bad("run_id", f"'{cfg.run_id}' must be a plain directory name (no '/', not '.' or '..')")
    if cfg.run_id is not None and len(cfg.run_id.encode("utf-8", "surrogateescape")) > NAME_MAX:
        bad("run_id", f"{shown(cfg.run_id)} is {len(cfg.run_id.encode('utf-8', 'surrogateescape'))} bytes long; "
                      f"a directory name holds at most {NAME_MAX}")
    from energybench.cost.tables import sram_cells

    if cfg.sram_cell not in sram_cells():
        bad("sram_cell", unknown_name("SRAM cell type", cfg.sram_cell, sram_cells()))
    from energybench.cost.nodes import NODES

    if cfg.node is not None and cfg.node not in NODES:
        bad("node", f"unknown technology node {cfg.node} nm; valid nodes (nm): {', '.join(map(str, NODES))}")
    if cfg.vdd is not None and not cfg.vdd > 0:
        bad("vdd", f"must be a positive supply voltage, got {cfg.vdd}")
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) < 1:
            bad(key, f"must be at least 1, got {getattr(cfg, key)}")
    for key in ("lr", "lr_gamma", "width", "power_rate_hz"):
        if not 0 < getattr(cfg, key) < math.inf:  # (NaN fails too)
            bad(key, f"must be positive, got {getattr(cfg, key)}")
    for key in ("momentum", "weight_decay", "tolerance"):
        if getattr(cfg, key) < 0:
            bad(key, f"must not be negative, got {getattr(cfg, key)}")
    if cfg.idle_seconds is not None and not 0 <= cfg.idle_seconds < math.inf:
        bad("idle_seconds", f"must be 0 (no idle baseline) or a finite number of seconds, got {cfg.idle_seconds}")
    for key in ("train_per_class", "test_per_class", "memory_size", "memory_per_class", "memory_budget", "sram_bytes",
                "threads"):
        v = getattr(cfg, key)
        if v is not None and v < 1:
            bad(key, f"must be at least 1, got {v}")
    shape = ((3, cfg.image_size or DEFAULT_IMAGE_SIZE, cfg.image_size or DEFAULT_IMAGE_SIZE)
             if cfg.dataset == "imagefolder" else IN_SHAPES[cfg.dataset])
    check_input(cfg.resolved_backbone(), shape, cfg.width, cfg.cifar_stem)  # too small for its pooling?
    if any(not 0 < m <= 1 for m in cfg.lr_milestones):
        bad("lr_milestones", f"milestones are fractions of the epochs, in (0, 1]; got {cfg.lr_milestones}")
    if cfg.device not in DEVICES and not re.fullmatch(r"cuda:\d+", cfg.device):
        bad("device", unknown_name("device", cfg.device, DEVICES) + ", or cuda:N")
    if cfg.precision not in PRECISIONS:
        bad("precision", unknown_name("precision", cfg.precision, PRECISIONS))
    if cfg.herding not in HERDING:
        bad("herding", unknown_name("exemplar selection", cfg.herding, HERDING))
    if cfg.executor not in EXECUTORS:
        bad("executor", unknown_name("executor", cfg.executor, EXECUTORS))
    if cfg.cache_shared and cfg.augment:
        bad("cache_shared", "caches the frozen trunk's outputs of each training image once a phase, which "
                            "augmentation changes every epoch; leave out cache_shared (--cache-shared) or augment "
                            "(--augment)")
    if cfg.executor == "local" and (cfg.workers is not None or cfg.ray_address is not None):
        which = "workers" if cfg.workers is not None else "ray_address"
        bad(which, "applies to the ray executor only; leave out executor: local (or --executor local)")
    asked = cfg.gpus_per_cell is not None or cfg.cpus_per_cell != FIELDS["cpus_per_cell"].default
    if cfg.executor == "local" and asked:
        which = "gpus_per_cell" if cfg.gpus_per_cell is not None else "cpus_per_cell"
        bad(which, f"{getattr(cfg, which):g} is a Ray resource request; the local executor runs every cell in this "
                   "process and would ignore it: add --workers N (or executor: ray), or leave it out")
    if cfg.workers is not None and cfg.workers < 1:
        bad("workers", f"must be at least 1, got {cfg.workers}")
    if cfg.workers is not None and cfg.ray_address is not None:
        bad("workers", "give either workers (a new Ray cluster on this machine) or ray_address (a running one), "
                       "not both")
    if cfg.gpus_per_cell is not None and not (0 <= cfg.gpus_per_cell < float("inf")):
        bad("gpus_per_cell", f"must be 0 or more (fractions share a GPU), got {cfg.gpus_per_cell}")
    if not 0 < cfg.cpus_per_cell < float("inf"):
        bad("cpus_per_cell", f"must be more than 0, got {cfg.cpus_per_cell}")
    _validate_carbon_and_trackers(cfg, bad)
    bad_formats = [f for f in cfg.report_formats if f not in REPORT_FORMATS]
    if bad_formats:
        bad("report_formats", unknown_name("report format", bad_formats[0], REPORT_FORMATS))
    if cfg.energy_table is not None:
        from energybench.cost.tables import check_runnable, load_energy_table

        check_runnable(load_energy_table(cfg.energy_table), PRECISIONS)


def _validate_carbon_and_trackers(cfg: RunConfig, bad) -> None:
    from energybench.cost.carbon import grids
    from energybench.trackers import check_trackers

    if cfg.carbon_intensity is not None and not 0 <= cfg.carbon_intensity < math.inf:
        bad("carbon_intensity", f"must be 0 or more grams of CO2e per kWh, got {cfg.carbon_intensity}")
    if cfg.grid is not None and cfg.grid not in grids():
        bad("grid", unknown_name("grid region", cfg.grid, sorted(grids())) + " (ISO 3166-1 alpha-3 country codes)")
    if cfg.grid is not None and cfg.carbon_intensity is not None:
        bad("grid", "give either grid (a country's published intensity) or carbon_intensity (your own), not both")
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


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def results_config(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded config without the keys that say how a run is carried out (EXECUTION_KEYS)."""
    return {k: v for k, v in recorded.items() if k not in EXECUTION_KEYS}
