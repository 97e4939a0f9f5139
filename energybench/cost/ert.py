"""Accelergy's exchange formats: energy reference tables (ERT) in and out, action counts out.

Followed: the ERT files Accelergy 0.3 writes and reads (`ERT: {version: 0.3, tables: [{name:
<component>, actions: [{name: <action>, arguments: ..., energy: <pJ>}]}]}`, e.g.
examples/eyeriss_like/output/reference/ERT.yaml in Accelergy-Project/accelergy), the 0.2 layout
(`tables: {<component>: {<action>: [{arguments, energy}] | {arguments, energy}}}`), and action
counts (`action_counts: {version: 0.3, local: [{name: <component>, action_counts: [{name:
<action>, counts: <n>}]}]}`, accelergy/raw_inputs_2_dicts.py). Energies are in pJ per action.

How energybench reads an ERT (component names are the user's; only the last dotted segment,
without a `[..]` list suffix, is matched):

- compute: a component named `compute`, `mac` or `alu`, optionally with a precision
  (`compute_fp32`, `mac_int8`, `fp16_mac`): actions `mult` and `add`, or `mac` / `mac_random`
  (then split into multiply and add in the default table's proportion, noted). A name without
  a precision prices every precision (noted).
- memory: any other component with a `read` action and a `write` (else `update`, else `fill`)
  action; per access of one word of the precision the ERT was written for.
- several entries of one action (Accelergy's argument variants, e.g. address_delta): the most
  expensive is used (random access), noted. Components with neither kind of action (NoC
  transfers, idle) are listed as ignored.
- `ERT.attributes` (energybench's key beside version and tables; Accelergy reads only those
  two, so the file stays valid for it): what the energies are for, `node_nm`, `vdd` (the logic
  supply) and `architecture` (the --arch they were exported with). Written by the export; an
  ERT without them has an unknown node and supply.

Pure: dicts in, dicts/text out; no torch, no files.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from energybench.errors import UserError

ERT_VERSION = 0.3
WRITE_ACTIONS = ("write", "update", "fill")  # in order of preference
COMPUTE_ACTIONS = ("mult", "add", "mac", "mac_random")
ATTRIBUTES = ("node_nm", "vdd", "architecture")  # keys of ERT.attributes
_COMPUTE = re.compile(r"^(?:(?:compute|mac|alu)(?:[_-]((?:fp|bf|int)\d+))?|((?:fp|bf|int)\d+)[_-](?:mac|alu|compute))$",
                      re.IGNORECASE)


@dataclass
class ErtData:
    """What energybench takes from an ERT: per-precision compute energies, per-component memory
    energies (pJ per word), and what it noticed."""

    compute: dict[str | None, dict[str, float]] = field(default_factory=dict)  # precision (None: any) -> action -> pJ
    memory: dict[str, dict[str, float]] = field(default_factory=dict)  # short name -> {read, write}
    full_names: dict[str, str] = field(default_factory=dict)  # short name -> full component name
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)  # ERT.attributes as written (checked by the reader)


def short_name(name: str) -> str:
    """`system.PE[0..167].mac` -> `mac`."""
    return re.sub(r"\[[^\]]*\]$", "", str(name).rsplit(".", 1)[-1])


def is_ert(data: Any) -> bool:
    return isinstance(data, dict) and "ERT" in data


def _entries(label: str, data: dict) -> list[tuple[str, dict[str, list[dict]]]]:
    """[(component, {action: [entries]})] from either ERT layout."""
    ert = data["ERT"]
    if not isinstance(ert, dict) or "tables" not in ert:
        raise UserError(f"Accelergy ERT {label}: 'ERT' must be a mapping with the keys version and tables")
    tables = ert["tables"]
    out = []
    if isinstance(tables, list):  # 0.3 / 0.4
        for i, comp in enumerate(tables):
            if not isinstance(comp, dict) or "name" not in comp or not isinstance(comp.get("actions"), list):
                raise UserError(f"Accelergy ERT {label}: tables[{i}] needs the keys name and actions (a list of "
                                "{name, arguments, energy})")
            actions: dict[str, list[dict]] = {}
            for a in comp["actions"]:
                if not isinstance(a, dict) or "name" not in a:
                    raise UserError(f"Accelergy ERT {label}: every action of {comp['name']} needs a name")
                actions.setdefault(str(a["name"]), []).append(a)
            out.append((str(comp["name"]), actions))
    elif isinstance(tables, dict):  # 0.2
        for name, actions in tables.items():
            if not isinstance(actions, dict):
                raise UserError(f"Accelergy ERT {label}: tables.{name} must map actions to energies")
            out.append((str(name), {str(a): (v if isinstance(v, list) else [v]) for a, v in actions.items()}))
    else:
        raise UserError(f"Accelergy ERT {label}: tables must be a list of components (ERT 0.3) or a mapping (0.2)")
    return out


def _energy(label: str, component: str, action: str, entries: list[dict], notes: list[str]) -> float:
    values = []
    for e in entries:
        v = e.get("energy") if isinstance(e, dict) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf:  # NaN fails too
            raise UserError(f"Accelergy ERT {label}: {component}.{action} energy must be a number of pJ >= 0, "
                            f"got {v!r}")
        values.append(float(v))
    if len(values) > 1:
        notes.append(f"{component}.{action}: {len(values)} argument variants; the most expensive "
                     f"({max(values):g} pJ) is used")
    return max(values)


def parse_ert(data: dict, label: str) -> ErtData:
    """Read an ERT document (the YAML's top-level mapping) into ErtData; UserError if unusable."""
    out = ErtData()
    entries = _entries(label, data)
    attributes = data["ERT"].get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict) or set(attributes) - set(ATTRIBUTES):
            unknown = sorted(map(str, set(attributes) - set(ATTRIBUTES))) if isinstance(attributes, dict) else []
            raise UserError(f"Accelergy ERT {label}: ERT.attributes must be a mapping with the keys "
                            f"{', '.join(ATTRIBUTES)}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        out.attributes = dict(attributes)
    for name, actions in entries:
        short = short_name(name)
        m = _COMPUTE.match(short)
        if m and any(a in actions for a in COMPUTE_ACTIONS):
            prec = (m.group(1) or m.group(2) or "").lower() or None
            got = {a: _energy(label, name, a, actions[a], out.notes) for a in COMPUTE_ACTIONS if a in actions}
            if "mac" not in got and "mac_random" in got:
                got["mac"] = got.pop("mac_random")
            if not ("mac" in got or {"mult", "add"} <= set(got)):
                raise UserError(f"Accelergy ERT {label}: compute component {name} needs the actions mult and add, "
                                f"or mac (or mac_random); it has {', '.join(actions)}")
            out.compute[prec] = got
        elif "read" in actions:
            write = next((a for a in WRITE_ACTIONS if a in actions), None)
            if write is None:
                raise UserError(f"Accelergy ERT {label}: memory component {name} has a read action but no write; "
                                f"give one of the actions {', '.join(WRITE_ACTIONS)} (it has {', '.join(actions)})")
            if short in out.memory:
                raise UserError(f"Accelergy ERT {label}: two components are named {short!r} "
                                f"({out.full_names[short]}, {name}); energybench matches by the last name segment")
            out.memory[short] = {"read": _energy(label, name, "read", actions["read"], out.notes),
                                 "write": _energy(label, name, write, actions[write], out.notes)}
            out.full_names[short] = name
        else:
            out.ignored.append(name)
    if not out.compute:
        raise UserError(f"Accelergy ERT {label}: no compute component; name one compute_<precision> (or mac, alu) "
                        f"with the actions mult and add, or mac (components found: "
                        f"{', '.join(n for n, _ in _entries(label, data)) or 'none'})")
    return out


# ----- writing -------------------------------------------------------------------------------------

def render_ert(components: list[tuple[str, dict[str, float]]], header: list[str],
               attributes: dict[str, Any] | None = None) -> str:
    """An ERT 0.3 document: components [(full name, {action: pJ})] in order, with comment lines
    and, when given, ERT.attributes (see the module docstring)."""
    tables = [{"name": name,
               "actions": [{"name": a, "arguments": None, "energy": float(e)} for a, e in actions.items()]}
              for name, actions in components]
    ert: dict[str, Any] = {"version": ERT_VERSION}
    if attributes:
        ert["attributes"] = attributes
    ert["tables"] = tables
    body = yaml.safe_dump({"ERT": ert}, sort_keys=False)
    return "".join(f"# {line}\n" for line in header) + body


Counts = list[tuple[str, dict[str, int]]]  # [(component, {action: count})]


def render_action_counts(total: Counts, layers: list[tuple[str, Counts]], header: list[str]) -> str:
    """Accelergy action counts of a step (`action_counts`, components named as in the ERT), and
    the same per layer under `layers` (energybench's key: Accelergy warns it does not know the
    key and skips it)."""

    def local(items):
        return [{"name": name, "action_counts": [{"name": a, "counts": int(n)} for a, n in counts.items()]}
                for name, counts in items]

    doc = {"action_counts": {"version": ERT_VERSION, "local": local(total)},
           "layers": [{"name": layer, "local": local(items)} for layer, items in layers]}
    return "".join(f"# {line}\n" for line in header) + yaml.safe_dump(doc, sort_keys=False)
