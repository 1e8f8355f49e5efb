"""`--help` reads like the README: plain metavars (FILE, SPEC, AGE, NAME, DIR, SHELL) and
usage lines, never a Python type name, on the typer release installed here."""

from __future__ import annotations

import re
from typing import Dict, List

import pytest
import typer.main
from typer.testing import CliRunner

from envman.cli.main import app

# The usage line of every command, as the README and SPEC write it.
USAGE: Dict[str, str] = {
    "": "envman [OPTIONS] COMMAND [ARGS]...",
    "new": "envman new [OPTIONS] [NAME]",
    "ls": "envman ls [OPTIONS]",
    "info": "envman info [OPTIONS] [NAME]",
    "path": "envman path [OPTIONS] [NAME]",
    "run": "envman run [OPTIONS] [NAME] -- CMD [ARG]...",
    "rm": "envman rm [OPTIONS] NAME...",
    "prune": "envman prune [OPTIONS]",
    "adopt": "envman adopt [OPTIONS] PATH",
    "doctor": "envman doctor [OPTIONS]",
    "completion": "envman completion [OPTIONS] [SHELL]",
    "recreate": "envman recreate [OPTIONS] [NAME]",
    "activate": "envman activate [OPTIONS] [NAME]",
    "deactivate": "envman deactivate [OPTIONS]",
    "init": "envman init [OPTIONS] SHELL",
    "shell": "envman shell [OPTIONS] [NAME]",
    "mv": "envman mv [OPTIONS] NAME [NEWNAME]",
    "link": "envman link [OPTIONS] [NAME]",
    "scan": "envman scan [OPTIONS] [DIR...]",
    "find": "envman find [OPTIONS] REQUIREMENT [--scan [DIR...]]",
    "freeze": "envman freeze [OPTIONS] [NAME]",
}
# Options that take a value, and the word their help row must show.
METAVARS = {
    ("new", "--project"): "DIR", ("new", "--python"): "SPEC", ("new", "--requirement"): "FILE",
    ("new", "--prompt"): "TEXT", ("ls", "--older-than"): "AGE", ("ls", "--project"): "DIR",
    ("prune", "--older-than"): "AGE", ("adopt", "--name"): "NAME", ("adopt", "--project"): "DIR",
    ("recreate", "--python"): "SPEC", ("recreate", "--requirement"): "FILE",
    ("activate", "--shell"): "SHELL", ("deactivate", "--shell"): "SHELL", ("shell", "--shell"): "SHELL",
    ("mv", "--project"): "DIR", ("scan", "--type"): "TOOL", ("scan", "--older-than"): "AGE",
    ("scan", "--min-size"): "SIZE",
}
# What typer 0.2x would print for Python types, and click's usage braces.
TYPE_NAMES = re.compile(r"<[A-Za-z_][\w\[\], |.]*>|\blist\[|\b(?:str|bool|int|Path)\b(?!\w)|[{}]")


def help_of(command: str) -> str:
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(app, args, prog_name="envman", env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_listed_here() -> None:
    group = typer.main.get_command(app)
    assert set(USAGE) - {""} == {name for name, cmd in group.commands.items() if not cmd.hidden}


@pytest.mark.parametrize("command", list(USAGE))
def test_help_shows_plain_words(command: str) -> None:
    text = help_of(command)
    lines = [" ".join(line.strip(" │╭╮╰╯─").split()) for line in text.splitlines()]
    assert f"Usage: {USAGE[command]}" in lines, text
    found = TYPE_NAMES.findall(text.replace("`", ""))
    assert not found, f"Python type names in `envman {command} --help`: {found}\n{text}"
    for (where, option), word in METAVARS.items():
        if where == command:
            row = [line for line in lines if re.search(rf"(^| ){re.escape(option)}( |$)", line)]
            assert row and re.search(rf"\b{word}\b", row[0]), (option, word, text)
    flags: List[str] = [line for line in lines if line.startswith(("--json", "--yes", "--help"))]
    for line in flags:  # a flag shows no metavar: its help follows its spellings
        assert not re.match(r"--\S+( -\w)? [A-Z]{2,}\b", line), line


def test_the_real_command_line(cli) -> None:
    done = cli("rm", "--help")
    assert done.code == 0 and "NAME..." in done.out and "list[" not in done.out, done


@pytest.mark.parametrize("argv", [["ls", "--older-than", "2w", "--project", "."], ["--version"],
                                  ["rm", "nosuch", "--yes"], ["new", "--help"]])
def test_commands_convert_their_values_without_pydantic(cli, argv: List[str]) -> None:
    """typer 0.29 would import pydantic (~90 ms) to convert values: envman.cli.coercion does
    it for every parameter envman has, so no command pays that."""
    done = cli(*argv, env={"PYTHONPROFILEIMPORTTIME": "1"})
    imported = {line.split("|")[-1].strip() for line in done.err.splitlines() if line.startswith("import time:")}
    assert "envman.cli.main" in imported, done
    assert not {name for name in imported if name.split(".")[0] in ("pydantic", "pydantic_core")}, done
