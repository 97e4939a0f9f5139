"""The options several commands share, each defined once: one name, one meaning, one help text.
A command adds them with `add(group, name, ...)`; only its default (shown in its help) and, for a
sweep axis, the comma list differ. RENAMED lists the spellings of an earlier release: they keep
working for one release, hidden from --help, with a one-line notice naming the new spelling."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from energybench.commands.arguments import NODE_CHOICE, finite_float, whole
from energybench.config import MAX_BATCH_SIZE, MAX_POWER_RATE_HZ, MAX_WIDTH

SWEEP_NOTE = "; comma-separated to compare several"


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    kwargs: dict = field(default_factory=dict)  # metavar, type, action: the same wherever the option appears


BACKBONE_NAMES = ("tiny_cnn, lenet, nin, resnet20, resnet32, resnet18, resnet34, resnet101, vgg19, tiny_vit, vit_b_16, "
                  "vit_b_32, vit_l_16, swin_t, a name an installed package registers, or your own as "
                  "package.module:factory (imports that module)")

OPTIONS = {o.flag.lstrip("-").replace("-", "_"): o for o in (
    # the network and its input
    Option("--backbone", f"the network: {BACKBONE_NAMES}", {"metavar": "NAME"}),
    Option("--width", f"channel width multiplier of the small and CIFAR backbones (at most {MAX_WIDTH:g})",
           {"metavar": "W", "type": finite_float}),
    Option("--cifar-stem", "torchvision backbones: the 32x32 stem (3x3 stride-1 first conv, no max-pool)",
           {"action": "store_const", "const": True}),
    Option("--batch-size", "samples per training step", {"metavar": "N", "type": whole(1, MAX_BATCH_SIZE)}),
    # hardware: how a step is priced
    Option("--precision", "word size and per-op energies: fp32, fp16, bf16, int8, int16 or int32", {"metavar": "P"}),
    Option("--energy-table", "energy table: a built-in name (horowitz45, the default; aladdin45) or a YAML file "
                             "merged over the default", {"metavar": "FILE"}),
    Option("--sram-cell", "CACTI cell type: itrs-lstp (the default), itrs-hp, itrs-lop", {"metavar": "CELL"}),
    Option("--node", "technology node in nm: 90, 65, 45, 32, 22, 16, 14, 10, 7 (the default: the energy table's "
                     "own, 45)", {"metavar": "NM", "type": whole(7, 90, NODE_CHOICE)}),
    Option("--vdd", "logic supply voltage in volts", {"metavar": "V", "type": finite_float}),
    Option("--arch", "architecture: layer_buffer (the default), eyeriss_like, tpu_like, paper_sharing, or a YAML "
                     "file (energybench/cost/README.md)", {"metavar": "FILE"}),
    Option("--mapper", "who maps each layer and pass onto the architecture: analytic (the default; closed form) or "
                       "zigzag (ZigZag's mapping search, pip install 'energybench[zigzag]')", {"metavar": "NAME"}),
    Option("--power-rate", f"power samples per second (at most {MAX_POWER_RATE_HZ:,.0f})",
           {"metavar": "HZ", "type": finite_float}),
    # output
    Option("--out", "the directory the outputs go into (created if needed)", {"metavar": "DIR"}),
    Option("--report-format", "comma-separated report formats: html, pdf", {"metavar": "LIST"}),
    Option("--json", "print one JSON object instead of text", {"action": "store_true"}),
)}

VDD_DEFAULT = "the energy table's own at its node, else the node's nominal supply"

# command -> {old spelling: new spelling}; each old one still works for one release.
RENAMED = {
    "cost": {"--model": "--backbone", "--batch": "--batch-size", "--classes": "--num-classes"},
    "power": {"--rate": "--power-rate"},
    "report": {"--format": "--report-format"},
    "compare": {"--format": "--report-format"},
    "rtl characterize": {"--out": "--output-file"},
}


def add(parser, name: str, *, default=None, default_text: str | None = None, sweep: bool = False,
        limit: str | None = None, **kwargs) -> argparse.Action:
    """Add shared option `name` to a parser or argument group. `default_text` is what its help says the
    default is, `limit` what it says the command's bound is; `sweep` makes it a comma list (given as text,
    split by the command)."""
    option = OPTIONS[name]
    options = {**option.kwargs, **kwargs}
    text = option.help + (f" ({limit})" if limit else "")
    if sweep:
        convert = options.pop("type", None)
        if convert is not None:
            options["type"] = each(convert)
        text += SWEEP_NOTE
    if default_text is not None:
        text += f" (default: {default_text})"
    if default is not None:
        options["default"] = default
    return parser.add_argument(option.flag, help=text, **options)


def each(convert):
    """An argument type for a sweep axis: the comma list stays text (the command splits it), but every
    item is checked by the axis's own type first, so `--node 45,x` gets argparse's message naming the
    valid values, as `--node x` does where the option takes one value."""
    def check(text: str) -> str:
        for item in text.split(","):
            if item.strip():  # an empty item is the config's to name ("item 2 of ... is empty")
                convert(item)
        return text

    check.__name__ = getattr(convert, "__name__", "value")
    return check


class Deprecated(argparse.Action):
    """An old spelling of `target`: hidden from --help, parsed like it, into the same place."""

    def __init__(self, option_strings, dest, target: argparse.Action, **kwargs):
        self.target = target
        super().__init__(option_strings, target.dest, nargs=target.nargs, const=target.const,
                         default=argparse.SUPPRESS, type=target.type, choices=target.choices,
                         help=argparse.SUPPRESS, metavar=target.metavar)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"energybench: {option_string} is deprecated; use {self.target.option_strings[0]}", file=sys.stderr)
        self.target(parser, namespace, values, self.target.option_strings[0])


def add_renamed(sub: argparse._SubParsersAction) -> None:
    """The old spellings of RENAMED on each command (and sub-command) of `sub`."""
    for parser in set(sub.choices.values()):
        command = parser.prog.split(" ", 1)[-1]
        for old, new in RENAMED.get(command, {}).items():
            _alias(parser, old, parser._option_string_actions[new])
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                add_renamed(action)


def _alias(parser: argparse.ArgumentParser, old: str, target: argparse.Action) -> None:
    if not target.required:
        parser.add_argument(old, action=Deprecated, target=target)
        return
    # A required option given by its old spelling is given: one of the two is required.
    group = parser.add_mutually_exclusive_group(required=True)
    alias = group.add_argument(old, action=Deprecated, target=target)
    target.required = False
    group._group_actions.insert(0, target)
    parser._actions.remove(alias)  # next to it, so the usage line shows the group as one required option
    parser._actions.insert(parser._actions.index(target) + 1, alias)
