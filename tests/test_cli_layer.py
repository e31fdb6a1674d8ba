"""The one CLI layer: every command's --help lists its exit codes from scripts/exit_codes.py, commands do
not import each other, and an exception no command expected is reported as a bug, in one line."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scripts.cli import COMMANDS, cli
from scripts.command import Command
from scripts.exit_codes import COMMAND_CODES, ExitCode

ROOT = Path(__file__).resolve().parents[1]
COMMAND_MODULES = {target.partition(":")[0] for target in COMMANDS.values()}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_goes_through_the_one_boundary(command: str) -> None:
    """A command on plain click.Command would let its exceptions escape as tracebacks under CliRunner and
    decide exit codes on its own."""
    assert isinstance(cli.get_command(click.Context(cli), command), Command)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_lists_the_commands_exit_codes_from_the_table(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    listed = result.output.split("Exit codes:", 1)[1]
    codes = [int(line.split()[0]) for line in listed.strip().splitlines()]
    assert codes == sorted(int(code) for code in COMMAND_CODES[command])
    for code in COMMAND_CODES[command]:
        assert f"{int(code):>3}  {code.description}" in listed


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(COMMAND_MODULES))
def test_commands_do_not_import_each_other(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    assert _imports(path) & (COMMAND_MODULES - {module}) == set()


@pytest.mark.parametrize("args", [["plan", "--stack", "dev"], ["cost", "--stack", "dev"]])
def test_a_bug_inside_a_command_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """A KeyError is a defect in scalestack, whichever command meets it: the boundary says so in one line."""
    import scripts.cost_cmd
    import scripts.plan_cmd

    def broken(*_: object) -> None:
        raise KeyError("launchTemplates")

    for module in (scripts.plan_cmd, scripts.cost_cmd):
        monkeypatch.setattr(module, "plan_stack", broken)
    monkeypatch.delenv("SCALESTACK_DEBUG", raising=False)

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == ExitCode.FAILURE
    assert result.stderr == (
        "error: internal error (KeyError: 'launchTemplates'); this is a bug in scalestack. Run again with "
        "SCALESTACK_DEBUG=1 for the traceback and include it in the report.\n"
    )


def test_with_scalestack_debug_the_bug_shows_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.plan_cmd

    def broken(*_: object) -> None:
        raise KeyError("launchTemplates")

    monkeypatch.setattr(scripts.plan_cmd, "plan_stack", broken)
    monkeypatch.setenv("SCALESTACK_DEBUG", "1")

    result = CliRunner().invoke(cli, ["plan", "--stack", "dev"])

    assert result.exit_code == ExitCode.FAILURE
    assert "Traceback" in result.stderr and "raise KeyError" in result.stderr


def _codes(cell: str) -> list[int]:
    """`0, 1, 2` or `0-5, 10-19, 130` as the numbers it names."""
    codes: list[int] = []
    for part in cell.split(","):
        low, _, high = part.strip().partition("-")
        codes += range(int(low), int(high or low) + 1)
    return codes


def test_the_readme_command_table_lists_each_commands_exit_codes_from_the_one_table() -> None:
    rows = [
        line.split(" | ")
        for line in (ROOT / "README.md").read_text().split("## The command line", 1)[1].splitlines()
        if line.startswith("| `scalestack ")
    ]
    listed: dict[str, list[int]] = {}
    for row in rows:
        for named in row[0].split("`scalestack ")[1:]:
            listed[named.split()[0].rstrip("`,")] = _codes(row[-1].rstrip(" |"))
    assert listed.keys() == COMMAND_CODES.keys()
    for command, codes in COMMAND_CODES.items():
        assert listed[command] == sorted(int(code) for code in set(codes)), command
