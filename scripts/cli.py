"""The `scalestack` command line: one group, each command in its own module."""

from __future__ import annotations

import click

from scripts.deploy.commands import deploy, images, rollback, status
from scripts.exit_codes import ExitCode
from scripts.plan_cmd import plan
from scripts.policy_cmd import policy


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scalestack")
def cli() -> None:
    """Plan, check and ship a scalestack stack."""


cli.add_command(plan)
cli.add_command(deploy)
cli.add_command(rollback)
cli.add_command(status)
cli.add_command(images)
cli.add_command(policy)


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
