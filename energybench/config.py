"""Experiment configuration: one dataclass, loaded from YAML and/or CLI flags, its values coerced.

An unknown key names itself and the valid keys, a value of the wrong type names the key and
what is allowed; what a value means (a known dataset, a backbone that takes the input...) is
checked by engine/preflight.py, whose make_config gives the validated config a run records.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from energybench.errors import UserError, did_you_mean, shown
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
    # node and arch are sweep axes: one value, or a list of several (each (node, arch) prices every phase)
    node: int | list[int] | None = None  # technology node (nm); None = the energy table's own (45)
    vdd: float | None = None  # logic supply (V); None = the table's own at its node, else the node's nominal
    arch: str | list[str] | None = None  # architecture file or built-in name; None = layer_buffer
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

    def nodes(self) -> list[int | None]:
        """The technology nodes priced, in the order given ([None]: the energy table's own)."""
        return list(self.node) if isinstance(self.node, list) else [self.node]

    def archs(self) -> list[str | None]:
        """The architectures priced, in the order given ([None]: layer_buffer)."""
        return list(self.arch) if isinstance(self.arch, list) else [self.arch]

    def hardware_points(self) -> list[tuple[int | None, str | None]]:
        """Every (node, arch) each phase is priced at: node-major, in the order given; the first
        is the one the report's accuracy and energy figures read."""
        return [(n, a) for n in self.nodes() for a in self.archs()]


DEFAULT_BACKBONE = {"digits": "tiny_cnn", "fashion-mnist": "resnet20", "mnist": "resnet20",
                    "cifar10": "resnet32", "cifar100": "resnet32", "imagefolder": "resnet18"}

# Keys that say how a run is carried out, not what it computes: they may differ between a run
# and its resumption, and between two invocations writing the same run directory.
RUNNER_KEYS = ("executor", "workers", "ray_address", "gpus_per_cell", "cpus_per_cell")  # where cells run
EXECUTION_KEYS = RUNNER_KEYS + ("report", "report_formats", "trackers", "tracking_uri")
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
                    f"(e.g. [3, 1, 0, 2] or 3,1,0,2), got {shown(value)}"
                    + did_you_mean(str(value).strip().lower(), ("seeded", "natural", "pycil")))


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
    if key == "trackers" and isinstance(value, str) and value.strip().lower() == "none":
        return []  # what --help calls the default; a resume given it logs to no tracker
    if key in ("methods", "report_formats", "trackers"):
        return _as_list(key, value, str)
    if key == "seeds":
        return _as_list(key, value, int)
    if key in ("sharing", "lr_milestones"):
        return _as_list(key, value, float)
    if key == "classes":
        return _as_list(key, value, str)
    if key in ("node", "arch"):  # a sweep axis: one value stays a value (as runs recorded it), several a list
        items = _as_list(key, value, int if key == "node" else str)
        return items[0] if len(items) == 1 else items
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
    data = load_user_yaml(p, f"config file {p}")
    if data is None:  # a typo'd or truncated file would otherwise start the full default benchmark
        raise UserError(f"config file {p} holds no keys (it is empty or only comments); give a run's keys "
                        "(examples in experiments/), or leave the file out for the defaults")
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must be a mapping of keys to values")
    if {"base", "arms"} <= set(data):  # experiments/*_study.yaml, *_ablation.yaml
        raise UserError(f"config file {p} is a study of several runs (base and arms), not one run's config; "
                        f"run it with: python scripts/ablation.py {p} --out DIR")
    return data


def refuse_key(key: str, msg: str) -> NoReturn:
    """A config key's value is refused: UserError naming the key."""
    raise UserError(f"config key '{key}': {msg}")


def parse_config(*layers: dict[str, Any]) -> tuple[RunConfig, set[str]]:
    """Merge key/value layers (YAML first, then CLI flags) into a RunConfig of coerced values, and
    the keys given; engine/preflight.make_config canonicalises and validates it."""
    values: dict[str, Any] = {}
    for layer in layers:
        for raw_key, value in layer.items():
            key = ALIASES.get(raw_key, raw_key)
            if key not in FIELDS:
                hint = did_you_mean(raw_key, list(FIELDS) + list(ALIASES))
                raise UserError(f"unknown config key {shown(raw_key)}{hint}; valid keys: {', '.join(sorted(FIELDS))}")
            values[key] = _coerce(key, value)
    if "executor" not in values and (values.get("workers") is not None or values.get("ray_address") is not None):
        values["executor"] = "ray"  # --workers N or --ray-address alone means Ray (an explicit local is refused)
    cfg = RunConfig(**{k: v for k, v in values.items() if v is not None or FIELDS[k].default is None})
    return cfg, set(values)


def complete(cfg: RunConfig) -> RunConfig:
    """The defaults that depend on other keys, and paths made absolute (so `--resume` works from any
    directory); after validation."""
    if cfg.dataset == "imagefolder" and cfg.image_size is None:
        cfg.image_size = DEFAULT_IMAGE_SIZE
    for key in ("data_root", "out", "weights"):
        if getattr(cfg, key):
            setattr(cfg, key, str(Path(getattr(cfg, key)).expanduser().resolve()))
    if cfg.energy_table and Path(cfg.energy_table).expanduser().is_file():
        cfg.energy_table = str(Path(cfg.energy_table).expanduser().resolve())
    archs = [str(Path(a).expanduser().resolve()) if a and Path(a).expanduser().is_file() else a for a in cfg.archs()]
    cfg.arch = archs if isinstance(cfg.arch, list) else archs[0]
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def results_config(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded config without the keys that say how a run is carried out (EXECUTION_KEYS)."""
    return {k: v for k, v in recorded.items() if k not in EXECUTION_KEYS}
