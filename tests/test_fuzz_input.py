"""Generated bad input: 380 values a run, drawn by a seeded generator (the same values on every
machine, so a failure reproduces), thrown at the number options of `run` and `cost`, at YAML
configs, architecture files and Accelergy ERTs. Every one must end as test_bad_input's hand-picked cases
do: exit 2, one line on stderr, no traceback, nothing on stdout, no file written.

The CLI is called in-process (energybench.cli.main): validation comes before anything heavy,
so the 380 calls take a few seconds. Each case also sets a tiny run (1 epoch, one method,
B2-1x1), so a value wrongly accepted fails the test quickly instead of training for minutes.
A case with a Ray flag runs as the watched driver that `energybench run` starts for Ray runs would (the same
code, in this process): the watcher's relay of a refusal is test_ray's hand-picked bad Ray options.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import string
import tempfile
from pathlib import Path

from energybench.cli import main
from energybench.commands.supervise import STATUS
from energybench.config import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_IDLE_SECONDS, MAX_IMAGE_SIZE, MAX_POWER_RATE_HZ,
                                MAX_THREADS, MAX_WIDTH, SEED_MAX, max_workers)

SEED = 32
NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e309"]
YAML_NON_FINITE = [".nan", ".NaN", ".inf", "-.inf", ".Inf", "1.0e+400", "-2.5e+308"]
TINY = ["--method", "joint", "--scenario", "B2-1x1", "--epochs", "1", "--sharing", "0"]
OUTPUT = ["--no-power", "--no-report", "--quiet"]


def _letters(rng: random.Random) -> str:
    """A word of letters: never a number (those that float() reads, nan and inf, are refused too)."""
    return "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 8)))


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _refused(argv: list[str], files: dict[str, str], tmp: Path) -> None:
    """Write `files` into a fresh folder, run argv there ({folder} in argv names it) and check
    the refusal."""
    case = tmp / f"case{len(list(tmp.iterdir()))}"
    case.mkdir()
    for name, text in files.items():
        (case / name).write_text(text)
    argv = [a.replace("{folder}", str(case)) for a in argv]
    before = _snapshot(case)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(case)  # a default output folder would land here
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _as_watched_driver():
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's own errors
                code = exit_.code
    finally:
        os.chdir(cwd)
    err = err.getvalue()
    assert code == 2, (argv, files, err)
    assert err.startswith("energybench") and err.count("\n") == 1 and "Traceback" not in err, (argv, files, err)
    assert out.getvalue() == "", (argv, out.getvalue())
    assert _snapshot(case) == before, (argv, files)


@contextlib.contextmanager
def _as_watched_driver():
    """This process as the child a Ray run's watcher starts (STATUS names its status file), so that a Ray flag's
    case costs no second python (3-5 s of imports each)."""
    with tempfile.TemporaryDirectory(prefix="eb-status-") as folder:
        before = os.environ.get(STATUS)
        os.environ[STATUS] = os.path.join(folder, "status.json")
        try:
            yield
        finally:
            if before is None:
                del os.environ[STATUS]
            else:
                os.environ[STATUS] = before


# ----- number options of `run` --------------------------------------------------------------------

# flag: (whole number?, lowest valid, highest valid or None, lowest excluded?, options it needs)
RUN_NUMBERS = {
    "--epochs": (True, 1, MAX_EPOCHS, False, []),
    "--batch-size": (True, 1, MAX_BATCH_SIZE, False, []),
    "--image-size": (True, 1, MAX_IMAGE_SIZE, False, ["--dataset", "imagefolder", "--data-root", "{folder}"]),
    "--workers": (True, 1, max_workers(), False, []),
    "--threads": (True, 1, MAX_THREADS, False, []),
    "--memory-size": (True, 1, None, False, []),
    "--memory-per-class": (True, 1, None, False, []),
    "--train-per-class": (True, 1, None, False, []),
    "--test-per-class": (True, 1, None, False, []),
    "--sram-bytes": (True, 1, None, False, []),
    "--seed": (True, 0, SEED_MAX, False, []),
    "--width": (False, 0, MAX_WIDTH, True, []),
    "--idle-seconds": (False, 0, MAX_IDLE_SECONDS, False, []),
    "--lr": (False, 0, None, True, []),
    "--tolerance": (False, 0, None, False, []),
    "--power-rate": (False, 0, MAX_POWER_RATE_HZ, True, []),
    "--vdd": (False, 0, None, True, []),
    "--sharing": (False, 0, 1, False, []),  # [0, 1): 1 itself is refused
    "--cpus-per-cell": (False, 0, None, True, ["--workers", "1"]),
    "--gpus-per-cell": (False, 0, None, False, ["--workers", "1"]),
}


def _bad_number(rng: random.Random, whole: bool, low: float, high: float | None, open_low: bool) -> str:
    kinds = ["letters", "non-finite", "below", "empty"] + ["above"] * (high is not None) + ["fraction"] * whole
    kind = rng.choice(kinds)
    if kind == "letters":
        return _letters(rng)
    if kind == "non-finite":
        return rng.choice(NON_FINITE)
    if kind == "empty":
        return rng.choice(["", " ", "1,,2"])
    if kind == "fraction":
        # (an exponent form of a whole number, 5e3, is one: a fraction written so, 5.5e0, is not)
        return f"{rng.randint(-5, 10**6)}.{rng.randint(1, 99)}" if rng.random() < 0.8 else f"{rng.randint(1, 9)}.5e0"
    if kind == "below":
        below = low - (0 if open_low else rng.choice([1, 7, 10**rng.randint(1, 30)]))
        return str(below) if whole or rng.random() < 0.5 else f"{below - rng.random():.6g}"
    step = 1 if whole else 1e-6
    above = high + rng.choice([step, 1, 10**rng.randint(1, 30)]) if high != 1 else rng.choice([1, 1.5, 99])
    return str(int(above)) if whole else repr(float(above))


def run_number_cases(n: int) -> list[list[str]]:
    rng = random.Random(SEED)
    flags = sorted(RUN_NUMBERS)
    cases = []
    for i in range(n):
        flag = flags[i % len(flags)]  # every option, then again
        whole, low, high, open_low, needs = RUN_NUMBERS[flag]
        value = _bad_number(rng, whole, low, high, open_low)
        tiny = TINY[:TINY.index(flag)] + TINY[TINY.index(flag) + 2:] if flag in TINY else TINY
        cases.append(["run", *tiny, *needs, flag, value, "--out", "{folder}/runs", *OUTPUT])
    return cases


# `energybench cost` on a tiny network: flag -> as RUN_NUMBERS (sizes past 2**62 are no machine's)
COST_NUMBERS = {
    "--num-classes": (True, 1, 2**62, False), "--batch-size": (True, 1, 2**62, False),
    "--width": (False, 0, MAX_WIDTH, True),
    "--sram-bytes": (True, 1, None, False), "--vdd": (False, 0, None, True), "--seed": (True, 0, SEED_MAX, False),
    "--sharing": (False, 0, 1, False),
}


def cost_number_cases(n: int) -> list[list[str]]:
    rng = random.Random(SEED + 4)
    flags = sorted(COST_NUMBERS)
    return [["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--device", "meta", "--json", flag,
             _bad_number(rng, *COST_NUMBERS[flag])] for flag in (flags[i % len(flags)] for i in range(n))]


RUN_CASES = run_number_cases(160)


def test_generated_bad_numbers_on_the_command_line_are_refused(tmp_path):
    assert len(RUN_CASES) == 160 and {c[c.index("--out") - 2] for c in RUN_CASES} == set(RUN_NUMBERS)
    for argv in RUN_CASES:
        _refused(argv, {}, tmp_path)


def test_generated_bad_numbers_for_cost_are_refused(tmp_path):
    cases = cost_number_cases(40)
    assert {c[-2] for c in cases} == set(COST_NUMBERS)
    for argv in cases:
        _refused(argv, {}, tmp_path)


# ----- YAML configs -------------------------------------------------------------------------------

# key: (whole number?, has an upper bound?, a list?)
YAML_NUMBERS = {
    "epochs": (True, True, False), "batch_size": (True, True, False), "width": (False, True, False),
    "idle_seconds": (False, True, False), "threads": (True, True, False), "lr": (False, False, False),
    "momentum": (False, False, False), "weight_decay": (False, False, False), "lr_gamma": (False, False, False),
    "tolerance": (False, False, False), "memory_size": (True, False, False), "train_per_class": (True, False, False),
    "power_rate_hz": (False, False, False), "seeds": (True, True, True), "sharing": (False, True, True),
    "lr_milestones": (False, True, True),
}
BASE = {"methods": "[joint]", "scenario": "B2-1x1", "epochs": "1", "sharing": "[0]"}


def _bad_yaml_value(rng: random.Random, whole: bool, bounded: bool, is_list: bool) -> str:
    kinds = ["non-finite", "mapping", "word", "bool"] + ["huge"] * bounded + ["fraction"] * whole
    kinds += ["nested"] if is_list else ["list", "negative"]
    kind = rng.choice(kinds)
    value = {"non-finite": lambda: rng.choice(YAML_NON_FINITE), "mapping": lambda: f"{{a: {rng.randint(0, 9)}}}",
             "word": lambda: "x" + _letters(rng), "bool": lambda: rng.choice(["true", "false", "yes", "off"]),
             "huge": lambda: "9" * rng.randint(20, 40), "fraction": lambda: f"{rng.randint(1, 100)}.5",
             "nested": lambda: f"[0, [{rng.randint(0, 9)}]]", "list": lambda: f"[{rng.randint(1, 9)}, 2]",
             "negative": lambda: f"-{rng.randint(1, 10**9)}"}[kind]()
    return f"[0, {value}]" if is_list and kind in ("non-finite", "word", "huge", "fraction", "bool") else value


def yaml_cases(n: int) -> list[str]:
    rng = random.Random(SEED + 1)
    keys = sorted(YAML_NUMBERS)
    cases = []
    for i in range(n):
        key = keys[i % len(keys)]
        lines = {**BASE, key: _bad_yaml_value(rng, *YAML_NUMBERS[key])}
        cases.append("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return cases


def test_generated_bad_configs_are_refused(tmp_path):
    cases = yaml_cases(80)
    assert len(set(cases)) > 60  # values vary, not one value 80 times
    for text in cases:
        _refused(["run", "{folder}/c.yaml", "--out", "{folder}/runs", *OUTPUT], {"c.yaml": text}, tmp_path)


# ----- architecture files and ERTs ----------------------------------------------------------------

ARCH = """name: fuzz
description: an Eyeriss-like array
dataflow: weight_stationary
array: {{rows: {rows}, cols: {cols}}}
clock_mhz: {clock_mhz}
levels:
  - {{name: rf, kind: rf, capacity_bytes: {rf_bytes}, instances: {instances}, energy: {{relative_to_mac: {rf_x}}},
     accesses_per_mac: {{reads: {reads}, writes: 1}}}}
  - {{name: glb, kind: sram, capacity_bytes: {glb_bytes}, banks: {banks}, word_bits: {word_bits}, energy: cacti}}
  - {{name: dram, kind: dram, type: LPDDR4}}
"""
# field: (whole number?, is 0 valid?)
ARCH_FIELDS = {"rows": (True, False), "cols": (True, False), "clock_mhz": (False, False), "rf_bytes": (True, False),
               "instances": (True, False), "rf_x": (False, False), "reads": (True, True), "glb_bytes": (True, False),
               "banks": (True, False), "word_bits": (True, False)}
ARCH_GOOD = {"rows": "12", "cols": "14", "clock_mhz": "200", "rf_bytes": "512", "instances": "1", "rf_x": "1.0",
             "reads": "3", "glb_bytes": "110592", "banks": "1", "word_bits": "16"}

ERT = """ERT:
  version: 0.3
  tables:
  - name: system.PE[0..167].compute_fp32
    actions:
    - {{name: mult, arguments: null, energy: {mult}}}
    - {{name: add, arguments: null, energy: {add}}}
  - name: system.glb_65536B
    actions:
    - {{name: read, arguments: null, energy: {read}}}
    - {{name: write, arguments: null, energy: {write}}}
  - name: system.DRAM
    actions:
    - {{name: read, arguments: null, energy: {dram}}}
    - {{name: write, arguments: null, energy: {dram}}}
"""
ERT_GOOD = {"mult": "3.7", "add": "0.9", "read": "12.5", "write": "13.1", "dram": "640.0"}


def _bad_file_value(rng: random.Random, whole: bool, zero_ok: bool) -> str:
    kinds = ["non-finite", "negative", "word", "list", "mapping", "bool"]
    kinds += ["zero"] * (not zero_ok) + ["fraction"] * whole
    kind = rng.choice(kinds)
    return {"non-finite": lambda: rng.choice(YAML_NON_FINITE), "negative": lambda: f"-{rng.uniform(0.001, 1e6):.4g}",
            "word": lambda: "x" + _letters(rng), "list": lambda: f"[{rng.randint(1, 9)}]",
            "mapping": lambda: f"{{v: {rng.randint(1, 9)}}}", "bool": lambda: rng.choice(["true", "false"]),
            "zero": lambda: rng.choice(["0", "0.0"]), "fraction": lambda: f"{rng.randint(1, 64)}.25"}[kind]()


def file_cases(template: str, good: dict[str, str], fields: dict[str, tuple[bool, float]], n: int, seed: int):
    rng = random.Random(seed)
    names = sorted(good)
    return [template.format(**{**good, names[i % len(names)]: _bad_file_value(rng, *fields[names[i % len(names)]])})
            for i in range(n)]


def test_the_file_templates_are_valid_as_given(tmp_path):
    """Without this, every generated file could be refused for the template's own fault."""
    (tmp_path / "a.yaml").write_text(ARCH.format(**ARCH_GOOD))
    (tmp_path / "e.yaml").write_text(ERT.format(**ERT_GOOD))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["energy-table", "--arch", str(tmp_path / "a.yaml")]) == 0
        assert main(["energy-table", "--energy-table", str(tmp_path / "e.yaml")]) == 0


def test_generated_bad_architecture_files_are_refused(tmp_path):
    for text in file_cases(ARCH, ARCH_GOOD, ARCH_FIELDS, 50, SEED + 2):
        _refused(["energy-table", "--arch", "{folder}/a.yaml"], {"a.yaml": text}, tmp_path)


def test_generated_bad_erts_are_refused(tmp_path):
    fields = {k: (False, True) for k in ERT_GOOD}  # pJ >= 0: zero is a valid energy
    for i, text in enumerate(file_cases(ERT, ERT_GOOD, fields, 50, SEED + 3)):
        argv = (["energy-table", "--energy-table", "{folder}/e.yaml"] if i % 2 else
                ["cost", "--backbone", "tiny_cnn", "--input", "1x8x8", "--device", "meta", "--energy-table",
                 "{folder}/e.yaml", "--json"])  # --json: where a NaN once printed, invalid JSON
        _refused(argv, {"e.yaml": text}, tmp_path)
