"""Class-incremental methods, one file each; METHODS maps names to classes, and
check_methods() validates a config's methods and their options before anything runs."""

from __future__ import annotations

import importlib

# name -> module; the order is the order `energybench run` runs them by default.
_MODULES = {
    "finetune": "finetune",
    "joint": "joint",
    "sharing": "sharing",
    "lwf": "lwf",
    "icarl": "icarl",
    "eeil": "eeil",
    "lucir": "lucir",
    "tree": "tree",
    "progressive": "progressive",
    "scratch": "scratch",
}


def _load() -> dict:
    from energybench.methods.base import Method

    found = {}
    for name, module in _MODULES.items():
        mod = importlib.import_module(f"energybench.methods.{module}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Method) and obj.name == name:
                found[name] = obj
    return found


METHODS = _load()


def check_methods(methods: list[str], options: dict[str, dict], sizes: list[int] | None = None) -> None:
    """Every named method exists and every method's options are valid (for the scenario's phase
    `sizes`, when given): one call, made by the runner before the first cell starts, so a bad
    option of the last method in a sweep stops the sweep before hours of work rather than when
    that method is reached."""
    from energybench.errors import UserError

    for name in methods:
        if name not in METHODS:
            raise UserError(f"config key 'methods': unknown method '{name}'; valid methods: {', '.join(METHODS)}")
    for name, opts in options.items():
        if name not in METHODS:
            raise UserError(f"config key 'options': unknown method '{name}'; valid methods: {', '.join(METHODS)}")
        METHODS[name].check_options(opts)
    if sizes is not None:
        for name in methods:
            cls = METHODS[name]
            cls.check_scenario(cls.check_options(options.get(name, {})), sizes)
