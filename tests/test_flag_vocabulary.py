"""One concept, one flag: every command's parser is walked and checked against a table of synonyms,
the shared options' help texts, and the deprecated spellings of the earlier release."""

from __future__ import annotations

import argparse
import re

import pytest

from energybench.cli import build_parser, main
from energybench.commands.options import RENAMED, SWEEP_NOTE

# Each concept with every spelling it has had; only the first may be a live option.
CONCEPTS = {
    "backbone": ("--backbone", "--model", "--network", "--arch-name"),
    "batch size": ("--batch-size", "--batch", "--bs"),
    "power sampling rate": ("--power-rate", "--rate", "--sample-rate"),
    "report formats": ("--report-format", "--format", "--formats", "--report-formats"),
    "number of classes": ("--num-classes", "--n-classes"),
    "output directory": ("--out", "--out-dir", "--output-dir", "--output"),
    "one output file": ("--output-file", "--out-file"),
}
# `--classes` names classes (a list of names), never their count.
COUNT = re.compile(r"\b(number|count) of\b|output classes")


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser, by its name after 'energybench'."""
    found, todo = {}, [build_parser()]
    while todo:
        parser = todo.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in set(action.choices.values()):
                    found[sub.prog.split(" ", 1)[1]] = sub
                    todo.append(sub)
    return found


def live(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def base_help(text: str) -> str:
    """A help text without the command's own default and the comma-list note of a sweep axis."""
    return re.sub(r" \(default: [^()]*(\([^()]*\)[^()]*)*\)$", "", text).replace(SWEEP_NOTE, "")


def test_every_command_is_walked():
    assert {"run", "cost", "energy-table", "power", "report", "compare", "rtl", "rtl characterize"} <= set(commands())


@pytest.mark.parametrize("concept", sorted(CONCEPTS))
def test_one_name_per_concept(concept):
    spellings = CONCEPTS[concept]
    used = {s: sorted(name for name, p in commands().items() if s in live(p)) for s in spellings}
    assert not [s for s in spellings[1:] if used[s]], f"{concept}: old spellings still live: {used}"


def test_classes_is_never_a_count():
    for name, parser in commands().items():
        action = live(parser).get("--classes")
        if action is not None:
            assert action.type in (None, str) and not COUNT.search(action.help), name


def test_out_is_always_a_directory():
    for name, parser in commands().items():
        action = live(parser).get("--out")
        if action is not None:
            assert action.metavar == "DIR" and "directory" in action.help, name


def test_a_shared_option_has_one_help_text():
    """An option string on two commands means one thing: its help texts agree, defaults aside."""
    seen: dict[str, dict[str, str]] = {}
    for name, parser in commands().items():
        for flag, action in live(parser).items():
            if flag.startswith("--") and flag not in ("--help", "--debug"):
                seen.setdefault(flag, {})[name] = base_help(action.help)
    # options each command explains for itself (their meaning differs per command)
    own = {"--seed", "--device", "--quiet", "--sharing", "--sram-bytes", "--page-size",
           "--batch-size"}  # (its bound: run's 65,536; cost counts any size the machine holds)
    differing = {flag: texts for flag, texts in seen.items()
                 if flag not in own and len(set(texts.values())) > 1}
    assert not differing


@pytest.mark.parametrize("command,old,new", [(c, o, n) for c, renames in RENAMED.items() for o, n in renames.items()])
def test_old_spelling_hidden_and_same_dest(command, old, new):
    parser = commands()[command]
    actions = parser._option_string_actions
    assert actions[old].help == argparse.SUPPRESS
    assert actions[old].dest == actions[new].dest
    assert old not in parser.format_help().replace(new, "")  # `--out` is a prefix of `--output-file`


# A command line of each command with the new spelling, its old spelling, and a value.
CASES = [
    ("cost", ["--input", "1x8x8"], "--model", "--backbone", "tiny_cnn"),
    ("cost", ["--backbone", "tiny_cnn", "--input", "1x8x8"], "--batch", "--batch-size", "3"),
    ("cost", ["--backbone", "tiny_cnn", "--input", "1x8x8"], "--classes", "--num-classes", "7"),
    ("power", [], "--rate", "--power-rate", "20"),
    ("report", ["somewhere"], "--format", "--report-format", "pdf"),
    ("compare", ["a", "b", "--out", "c"], "--format", "--report-format", "html"),
    ("rtl characterize", [], "--out", "--output-file", "t.yaml"),
]


def test_every_renamed_spelling_has_a_case():
    assert {(c, o) for c, _, o, _, _ in CASES} == {(c, o) for c, r in RENAMED.items() for o in r}


@pytest.mark.parametrize("command,rest,old,new,value", CASES)
def test_old_spelling_parses_as_new_with_one_notice(command, rest, old, new, value, capsys):
    parser = build_parser()
    words = command.split()
    new_args = parser.parse_args([*words, *rest, new, value])
    assert capsys.readouterr().err == ""
    old_args = parser.parse_args([*words, *rest, old, value])
    err = capsys.readouterr().err
    assert err == f"energybench: {old} is deprecated; use {new}\n"
    assert vars(old_args) == vars(new_args)


def test_old_spelling_works_end_to_end(capsys):
    """`cost --model --batch --classes` still counts the same step, with a notice per old spelling."""
    assert main(["cost", "--backbone", "lenet", "--input", "1x28x28", "--num-classes", "5", "--batch-size", "2",
                 "--json"]) == 0
    new = capsys.readouterr()
    assert main(["cost", "--model", "lenet", "--input", "1x28x28", "--classes", "5", "--batch", "2", "--json"]) == 0
    old = capsys.readouterr()
    assert old.out == new.out
    assert old.err.splitlines() == [f"energybench: --{o} is deprecated; use --{n}"
                                    for o, n in (("model", "backbone"), ("classes", "num-classes"),
                                                 ("batch", "batch-size"))]


def test_a_required_option_with_an_old_spelling_is_still_required(capsys):
    """`cost --model X` satisfies --backbone; neither given is the usual one-line error."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["cost", "--input", "1x8x8"])
    assert exc.value.code == 2
    assert "error: the following arguments are required: --backbone;" in capsys.readouterr().err
    # neither of two required options given: both named at once, in the usage line's order
    for argv, named in ((["cost"], "--backbone, --input"), (["cost", "--mod=lenet"], "--input"),
                        (["cost", "--backbone", "lenet"], "--input")):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        assert f"error: the following arguments are required: {named};" in capsys.readouterr().err, argv
    assert "--backbone NAME --input" in build_parser()._subparsers._group_actions[0].choices["cost"].format_usage()


def test_hardware_axes_take_a_list_wherever_a_sweep_is_run():
    """`run` and `cost` both sweep --node and --arch (comma lists); `energy-table` shows one point."""
    for name in ("run", "cost"):
        for flag in ("--node", "--arch"):
            action = live(commands()[name])[flag]
            value = "45,7" if flag == "--node" else "layer_buffer,tpu_like"
            # the comma list reaches the command as the text given (each node checked as a whole number first)
            assert SWEEP_NOTE in action.help and (action.type or str)(value) == value, (name, flag)
    assert SWEEP_NOTE not in live(commands()["energy-table"])["--node"].help
