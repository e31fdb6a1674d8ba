"""What every `scalestack` command shares, declared once (as pip's cli/cmdoptions.py and base_command.py do):
the common options, loading the stack spec, and the one boundary where an exception becomes an exit code.

Commands raise CommandError for a failure (the deploy pipeline's DeployError is one) and leave the message and
the exit to the boundary; only an outcome that is itself a code (a blocked plan, a finished deploy run) exits
directly. Commands do not import each other: what two share lives here.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from infra.offline import PlanError
from infra.policies import UnknownRuleError
from infra.spec import NAMESPACE, SpecError, StackSpec, load_spec_file, load_stack_spec
from scripts.errors import CommandError, bug_message
from scripts.exit_codes import COMMAND_CODES, ExitCode, exit_codes_help

F = TypeVar("F", bound=Callable[..., Any])

STACK_HELP = "A stack in stacks/ (dev, staging, prod, ...): stacks/Pulumi.NAME.yaml."


def stack_option(required: bool = False, help: str = STACK_HELP) -> Callable[[F], F]:
    return click.option("--stack", "-s", "stack", required=required, metavar="NAME", help=help)


stack_file_option = click.option(
    "--stack-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="A stack file anywhere; its name is taken from Pulumi.<name>.yaml.",
)


def format_option(*formats: str, help: str | None = None) -> Callable[[F], F]:
    """`--format text|<formats>`, text by default, as `output_format`."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", *formats]),
        default="text",
        show_default=True,
        help=help,
    )


def load_spec_or_exit(stack: str | None, stack_file: Path | None = None) -> StackSpec:
    """The spec named on the command line; a bad one ends the command with INVALID_SPEC and its message."""
    if (stack is None) == (stack_file is None):
        raise click.UsageError("give exactly one of --stack NAME or --stack-file PATH")
    try:
        return load_stack_spec(stack) if stack is not None else load_spec_file(stack_file)  # type: ignore[arg-type]
    except SpecError as err:
        raise CommandError(ExitCode.INVALID_SPEC, str(err)) from None


@contextmanager
def stack_errors(spec: StackSpec) -> Iterator[None]:
    """Around planning or checking a stack: a waiver naming no rule is the stack file's fault
    (INVALID_SPEC), a program the mock engine cannot run is scalestack's (FAILURE)."""
    try:
        yield
    except UnknownRuleError as err:
        raise CommandError(
            ExitCode.INVALID_SPEC, f"{spec.source}: {NAMESPACE}:policy.waivers: {err}"
        ) from None
    except PlanError as err:
        raise CommandError(
            ExitCode.FAILURE, f"the program for stack '{spec.stack}' cannot be planned: {err}"
        ) from None


class Command(click.Command):
    """A scalestack command. Its --help ends with the exit codes scripts/exit_codes.py gives it, and
    `invoke` is the one place an exception becomes an exit code (pip's `Command.main`)."""

    # What an interrupted command says; `scalestack` without a command prints the same (scripts/cli.py).
    interrupted_message = "interrupted"

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.epilog = (self.epilog or "") + "\n" + exit_codes_help(COMMAND_CODES[name])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommandError as err:
            self.exit(ctx, err.code, err.message)
        except KeyboardInterrupt:
            self.exit(ctx, ExitCode.INTERRUPTED, self.interrupted_message)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors (exit 2), --help, a declined prompt
        except Exception as err:  # every expected failure is a CommandError: reaching here is a bug
            if os.environ.get("SCALESTACK_DEBUG"):
                traceback.print_exc()
            self.exit(ctx, ExitCode.FAILURE, bug_message(err))

    def exit(self, ctx: click.Context, code: ExitCode, message: str) -> NoReturn:
        self.report(ctx, code, message)
        # A program that failed under the mock engine leaves event loops whose destructors complain at exit;
        # the message is the whole story, so that noise is not printed after it.
        sys.unraisablehook = lambda _: None
        sys.exit(code)

    def report(self, ctx: click.Context, code: ExitCode, message: str) -> None:
        """How this command tells a person it failed: one line on stderr."""
        click.echo(message if code == ExitCode.INTERRUPTED else f"error: {message}", err=True)
