"""Class-incremental methods, one file each; METHODS maps names to classes, and
check_methods() validates a config's methods and their options before anything runs.

A method in a config is a built-in name, a name an installed package registers under the
`energybench.methods` entry-point group, or `package.module:Class` (a subclass of
methods.base.Method). A run knows every method by its class's `name` (metrics.csv, cell
directories, `options:`).
"""

from __future__ import annotations

import importlib
import re

# name -> module; the order is the order `energybench run` runs them (DEFAULT_METHODS by default).
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
    "der": "der",
    "memo": "memo",
    "foster": "foster",
    "simplecil": "simplecil",
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


_LOADED: dict | None = None


def _methods() -> dict:
    global _LOADED
    if _LOADED is None:
        _LOADED = _load()
    return _LOADED


def __getattr__(name: str):
    # METHODS imports every method module, and torch with them, on first use: building the command
    # line (`--help`, `report`, `compare`) needs only the names below
    if name == "METHODS":
        return _methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Run when a config names no methods: the built-in ones except those added since the default run's
# time was set (README), which a run names (`--method memo,der,foster,simplecil`).
OPT_IN = ("der", "memo", "foster", "simplecil")
DEFAULT_METHODS = [name for name in _MODULES if name not in OPT_IN]


NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def registered_methods() -> list[str]:
    """Names installed packages register under the `energybench.methods` entry-point group."""
    from energybench import plugins

    return [n for n in plugins.entry_points(plugins.METHOD_GROUP) if n not in _methods()]


def valid_methods() -> str:
    extra = registered_methods()
    return ", ".join([*_methods(), *extra]) + ", or your own as package.module:Class"


def resolve_method(spec: str) -> type:
    """The Method subclass `spec` names (importing a user's module, which runs its code)."""
    from energybench import plugins
    from energybench.errors import UserError, colon_hint, unknown_name
    from energybench.methods.base import Method

    if spec in _methods():
        return _methods()[spec]
    registered = None
    if plugins.is_reference(spec):
        cls = plugins.load_reference(spec, "method")
    elif spec in plugins.entry_points(plugins.METHOD_GROUP):
        cls, registered = plugins.load_entry_point(plugins.METHOD_GROUP, spec, "method"), spec
    else:
        raise UserError(f"config key 'methods': {unknown_name('method', spec, [*_methods(), *registered_methods()])} "
                        "(names match in any case), or your own as package.module:Class" + colon_hint(spec))
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        what = f"the class {cls.__name__}" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise UserError(f"method '{spec}' is {what}; expected a subclass of energybench.methods.base.Method")
    name = cls.name
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"method '{spec}': its class must set `name` to a name for metrics.csv and options "
                        f"(a letter, then letters, digits, '_', '.' or '-'), got {name!r}")
    if name in _methods():
        raise UserError(f"method '{spec}' names itself '{name}', a built-in method; give its class another `name`")
    if registered is not None and registered != name:
        raise UserError(f"method '{spec}' is registered under that name but its class names itself '{name}'; the "
                        "two must agree")
    if cls.learn is Method.learn:
        raise UserError(f"method '{spec}' ({cls.__qualname__}) defines no learn(phase): every method trains "
                        "something in learn")
    return cls


def method_classes(methods: list[str]) -> dict[str, type]:
    """Each method of a config by the name its class gives it, in order."""
    from energybench.errors import UserError

    classes: dict[str, type] = {}
    for spec in methods:
        cls = resolve_method(spec)
        if cls.name in classes:
            raise UserError(f"config key 'methods': two entries name the method '{cls.name}' ({spec} is the second)")
        classes[cls.name] = cls
    return classes


def check_methods(methods: list[str], options: dict[str, dict], sizes: list[int] | None = None,
                  cfg=None) -> None:
    """Every named method exists and every method's options are valid (for the scenario's phase
    `sizes`, when given, and then the exemplar memory of `cfg` for the methods that keep one, and its
    memory budget at every phase: _check_budget): one call, made by the runner before the first cell
    starts, so a bad option of the last method in a sweep, or a model that outgrows the budget at
    its last phase, stops the sweep before hours of work rather than when that is reached."""
    from energybench.errors import UserError, did_you_mean

    classes = method_classes(methods)
    known = {**_methods(), **classes}
    for name, opts in options.items():
        if name not in known:
            same = [k for k in known if k.lower() == str(name).lower()]  # a user's name keeps its case
            hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(name, known)
            raise UserError(f"config key 'options': unknown method '{name}'{hint}; valid methods: {', '.join(known)} "
                            "(options are keyed by a method's name: a user method's is its class's `name`)")
        known[name].check_options(opts)
    if sizes is not None:
        for name, cls in classes.items():
            cls.check_scenario(cls.check_options(options.get(name, {})), sizes)
    if sizes is not None and cfg is not None:
        from energybench.methods.base import ExemplarMethod
        from energybench.methods.memory import ExemplarMemory

        if any(issubclass(cls, ExemplarMethod) for cls in classes.values()):
            # a memory too small for every class would otherwise stop the run after a base phase
            ExemplarMemory.from_config(cfg, seed=0).quota(sum(sizes))
        if getattr(cfg, "memory_budget", None) is not None:
            _check_budget(cfg, sizes, classes)


def _check_budget(cfg, sizes: list[int], classes: dict[str, type] | None = None) -> None:
    """A memory budget must hold, at EVERY phase of the scenario (`sizes`: classes added per phase)
    and every sharing level a method runs at, the stored model of each method it bounds
    (`under_budget`; its `stored_bytes_by_phase`, built on the meta device as the method grows it)
    plus one exemplar per class seen by then (none for a method without exemplars, e.g. simplecil).
    Checked before anything runs, so a model that outgrows the budget at a late phase stops the run
    here rather than hours in. `classes`: the run's methods by name (default: cfg.methods')."""
    from energybench.data import IN_SHAPES
    from energybench.errors import UserError
    from energybench.methods.base import ExemplarMethod
    from energybench.methods.memory import exemplar_nbytes

    if classes is None:
        classes = method_classes(cfg.methods or DEFAULT_METHODS)
    side = cfg.image_size or 224
    in_shape = IN_SHAPES.get(cfg.dataset, (3, side, side))
    per = exemplar_nbytes(in_shape)
    if not any(getattr(cls, "under_budget", False) for cls in classes.values()):  # it would bound nothing
        bounded = sorted(n for n, c in {**_methods(), **classes}.items() if getattr(c, "under_budget", False))
        raise UserError(f"config key 'memory_budget': {cfg.memory_budget} bytes bounds the stored model and exemplars "
                        f"of {', '.join(bounded)}; none of this run's methods ({', '.join(classes)}) is one of them, "
                        "so it would be ignored: leave it out, or add such a method")
    needs = []  # (method, sharing level or None where it changes nothing, phase, model bytes, seen, bytes needed)
    for name, cls in classes.items():
        if not getattr(cls, "under_budget", False):
            continue
        each = per if issubclass(cls, ExemplarMethod) else 0
        levels = list(dict.fromkeys(cfg.sharing if cls.shares else cfg.sharing[:1]))
        by_level = {s: cls.stored_bytes_by_phase(cfg, sizes, in_shape, s) for s in levels}
        varies = len({tuple(b) for b in by_level.values()}) > 1
        for level, models in by_level.items():
            for t, model in enumerate(models):
                seen = sum(sizes[: t + 1])
                needs.append((name, level if varies else None, t, model, seen, model + seen * each))
    if not needs:
        return
    fits = max(n[-1] for n in needs)
    over = next((n for n in needs if n[-1] > cfg.memory_budget), None)
    if over is None:
        return
    name, level, t, model, seen, need = over
    where = f"phase {t}" + ("" if level is None else f" at sharing {level}")
    what = (f"its model ({model} bytes at {cfg.precision}) and one exemplar ({per} bytes) for each of the {seen} "
            f"classes seen by then need {need} bytes" if need > model else
            f"its model takes {model} bytes at {cfg.precision} (it stores no exemplars)")
    raise UserError(f"memory_budget {cfg.memory_budget} bytes cannot hold {name} at {where}: {what}; use "
                    f"memory_budget >= {fits}, the smallest that fits every phase of every method in the run")
