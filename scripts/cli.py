"""The `scalestack` command line: one group, each command in its own module, imported only when run.

Loading a command's module only when it is invoked keeps `scalestack plan` from importing the deploy
pipeline's boto3 and Docker clients (a third of a second of every plan).
"""

from __future__ import annotations

import gc
import importlib
import os

import click

from scripts.errors import bug_message
from scripts.exit_codes import ExitCode

COMMANDS = {
    "plan": "scripts.plan_cmd:plan",
    "policy": "scripts.policy_cmd:policy",
    "cost": "scripts.cost_cmd:cost",
    "deploy": "scripts.deploy.commands:deploy",
    "rollback": "scripts.deploy.commands:rollback",
    "status": "scripts.deploy.commands:status",
    "images": "scripts.deploy.commands:images",
    "up": "scripts.deploy.stack_cmds:up",
    "destroy": "scripts.deploy.stack_cmds:destroy",
    "logs": "scripts.ops.commands:logs",
    "run": "scripts.ops.commands:run",
    "exec": "scripts.ops.commands:exec_",
    "secret": "scripts.ops.commands:secret",
}


class LazyGroup(click.Group):
    """A group whose subcommands are named by `module:attribute` and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scalestack")
def cli() -> None:
    """Plan, check and ship a scalestack stack."""


# Planning imports pulumi_aws modules that build thousands of input classes (wafv2 alone ~0.5 s), and
# the default thresholds run a full collection over them again and again: profiled, a third of
# `scalestack plan`'s wall time (bench/plan_speed.py). Rarer young collections keep that work away
# from a short-lived CLI process at the same peak memory (measured: ~206 MB either way).
GC_YOUNG_THRESHOLD = 200_000


def main() -> None:
    """The entry point. Each command maps its own failures to exit codes (scripts/command.py `Command`);
    this catches what happens outside any command, such as a command module that fails to import."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except Exception as err:
        if os.environ.get("SCALESTACK_DEBUG"):
            raise
        click.echo(f"error: {bug_message(err)}", err=True)
        raise SystemExit(ExitCode.FAILURE) from None
