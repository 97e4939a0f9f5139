"""Every `energybench` command in the README's shell blocks parses as written, with today's
spellings: no unknown flag, no missing argument, no deprecation notice. (Running them is the
job of the tests of each feature; this keeps the README's vocabulary from drifting.)"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from energybench.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    found = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", README.read_text(), flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():  # a continued line is one command
            line = re.split(r"\s#\s|\s{2,}#", line.strip())[0].strip()  # the comment after it
            if line.startswith(("energybench ", ".venv/bin/energybench ")) and "..." not in line:
                found.append(re.sub(r"<[^>]*>", "x", line))  # runs/<run-id>: any name
    return found


def test_the_readme_has_commands_to_check():
    assert len(readme_commands()) >= 20


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_parses_as_written(command):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit as exc:  # --help exits 0; a bad flag exits 2
            assert exc.code == 0, err.getvalue()
    assert "deprecated" not in err.getvalue()
