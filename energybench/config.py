"""Experiment configuration: one dataclass, loaded from YAML and/or CLI flags, validated.

Every key is checked: an unknown key names itself and the valid keys, a bad value names
the key and what is allowed. The fully resolved config is what a run directory records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from energybench.errors import UserError

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class RunConfig:
    # what to run
    methods: list[str] = field(default_factory=list)  # empty = every registered method
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    classes: list[str] | None = None  # imagefolder class subset
    image_size: int = 224  # imagefolder crop size
    scenario: str | list[int] = "B4-3x2"
    class_order: str | list[int] | None = "seeded"
    train_per_class: int | None = None
    test_per_class: int | None = None
    # network
    backbone: str | None = None  # None = the dataset's default
    width: float = 1.0
    cifar_stem: bool = False
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
    sharing: list[float] = field(default_factory=lambda: [0.0])
    tolerance: float = 1.0  # percentage points, for the optimal sharing point
    cache_shared: bool = False
    # exemplar memory (methods that keep one)
    memory_size: int | None = None
    memory_per_class: int | None = 20
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
    # measurement
    power: bool = True
    power_rate_hz: float = 10.0
    idle_seconds: float = 0.0
    # output
    out: str = "runs"
    run_id: str | None = None
    report: bool = True
    report_formats: list[str] = field(default_factory=lambda: ["html", "pdf"])

    def resolved_backbone(self) -> str:
        return self.backbone or DEFAULT_BACKBONE.get(self.dataset, "resnet18")


DEFAULT_BACKBONE = {"digits": "tiny_cnn", "fashion-mnist": "resnet20", "mnist": "resnet20",
                    "cifar10": "resnet32", "cifar100": "resnet32", "imagefolder": "resnet18"}

# Keys accepted under their older or plural/singular spellings in YAML and on the CLI.
ALIASES = {"method": "methods", "seed": "seeds", "batch": "batch_size"}
FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _as_list(key: str, value, kind):
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        return [kind(v.strip()) if isinstance(v, str) else kind(v) for v in items if str(v).strip() != ""]
    except (TypeError, ValueError):
        raise UserError(f"config key '{key}': cannot read {value!r} as a list of {kind.__name__}") from None


def _coerce(key: str, value):
    """Turn a YAML or CLI value into the field's type, or explain why not."""
    if value is None:
        return None
    if key in ("methods", "report_formats"):
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
    if key == "class_order" and isinstance(value, str) and "," in value:
        return _as_list(key, value, int)
    if key in ("scenario", "class_order"):
        return value
    default = FIELDS[key].default
    typ = next((t for t in (bool, int, float) if isinstance(default, t)), None)
    if key in ("train_per_class", "test_per_class", "memory_size", "memory_per_class", "sram_bytes", "threads", "node"):
        typ = int
    if key == "vdd":
        typ = float
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).lower() in ("false", "no", "0", "off"):
            return False
        raise UserError(f"config key '{key}' must be true or false, got {value!r}")
    if typ in (int, float):
        what = "an integer" if typ is int else "a number"
        if isinstance(value, bool):  # YAML's `true` is not a count
            raise UserError(f"config key '{key}' must be {what}, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UserError(f"config key '{key}' must be {what}, got {value!r}") from None
        if typ is int:
            if number != int(number):
                raise UserError(f"config key '{key}' must be a whole number, got {value!r}")
            return int(number)
        return number
    return str(value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"config file {p} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must be a mapping of keys to values")
    return data


def make_config(*layers: dict[str, Any]) -> RunConfig:
    """Merge key/value layers (YAML first, then CLI flags) into a validated RunConfig."""
    values: dict[str, Any] = {}
    for layer in layers:
        for raw_key, value in layer.items():
            key = ALIASES.get(raw_key, raw_key)
            if key not in FIELDS:
                raise UserError(f"unknown config key '{raw_key}'; valid keys: {', '.join(sorted(FIELDS))}")
            values[key] = _coerce(key, value)
    cfg = RunConfig(**{k: v for k, v in values.items() if v is not None or FIELDS[k].default is None})
    validate(cfg, set(values))
    # Paths are recorded absolute, so `--resume` works from any directory.
    for key in ("data_root", "out"):
        if getattr(cfg, key):
            setattr(cfg, key, str(Path(getattr(cfg, key)).expanduser().resolve()))
    for key in ("energy_table", "arch"):
        if getattr(cfg, key) and Path(getattr(cfg, key)).expanduser().is_file():
            setattr(cfg, key, str(Path(getattr(cfg, key)).expanduser().resolve()))
    return cfg


def validate(cfg: RunConfig, explicit: set[str] = frozenset()) -> None:
    from energybench.data import DATASETS
    from energybench.models import BACKBONES

    def bad(key, msg):
        raise UserError(f"config key '{key}': {msg}")

    if cfg.dataset not in DATASETS:
        bad("dataset", f"unknown dataset '{cfg.dataset}'; valid datasets: {', '.join(DATASETS)}")
    if cfg.classes is not None and cfg.dataset != "imagefolder":
        bad("classes", f"a class subset applies to the imagefolder dataset only, not '{cfg.dataset}'; "
                       "use class_order and the scenario to pick classes of other datasets")
    if cfg.backbone is not None and cfg.backbone not in BACKBONES:
        bad("backbone", f"unknown backbone '{cfg.backbone}'; valid backbones: {', '.join(BACKBONES)}")
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
    from energybench.cost.tables import sram_cells

    if cfg.sram_cell not in sram_cells():
        bad("sram_cell", f"'{cfg.sram_cell}' is not one of {', '.join(sram_cells())}")
    from energybench.cost.nodes import NODES

    if cfg.node is not None and cfg.node not in NODES:
        bad("node", f"unknown technology node {cfg.node} nm; valid nodes (nm): {', '.join(map(str, NODES))}")
    if cfg.vdd is not None and not cfg.vdd > 0:
        bad("vdd", f"must be a positive supply voltage, got {cfg.vdd}")
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) < 1:
            bad(key, f"must be at least 1, got {getattr(cfg, key)}")
    for key in ("lr", "width", "power_rate_hz"):
        if getattr(cfg, key) <= 0:
            bad(key, f"must be positive, got {getattr(cfg, key)}")
    for key in ("momentum", "weight_decay", "idle_seconds", "tolerance"):
        if getattr(cfg, key) < 0:
            bad(key, f"must not be negative, got {getattr(cfg, key)}")
    for key in ("train_per_class", "test_per_class", "memory_size", "memory_per_class", "sram_bytes", "threads"):
        v = getattr(cfg, key)
        if v is not None and v < 1:
            bad(key, f"must be at least 1, got {v}")
    if any(not 0 < m <= 1 for m in cfg.lr_milestones):
        bad("lr_milestones", f"milestones are fractions of the epochs, in (0, 1]; got {cfg.lr_milestones}")
    if cfg.device not in DEVICES and not cfg.device.startswith("cuda:"):
        bad("device", f"'{cfg.device}' is not one of {', '.join(DEVICES)} (or cuda:N)")
    if cfg.precision not in PRECISIONS:
        bad("precision", f"'{cfg.precision}' is not one of {', '.join(PRECISIONS)}")
    if cfg.herding not in ("herding", "random"):
        bad("herding", f"'{cfg.herding}' is not one of herding, random")
    bad_formats = [f for f in cfg.report_formats if f not in ("html", "pdf")]
    if bad_formats:
        bad("report_formats", f"'{bad_formats[0]}' is not one of html, pdf")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
