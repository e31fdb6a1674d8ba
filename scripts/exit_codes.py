"""One exit code per failure class, so CI can branch on what went wrong without parsing text.

Each code carries its one-line meaning; commands list theirs in `--help` with `exit_codes_help`, so the
meaning is written here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    description: str

    def __new__(cls, value: int, description: str) -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    OK = 0, "success"
    FAILURE = 1, "unexpected: a bug in scalestack; the message says where to report it"
    USAGE = 2, "a bad flag or argument"  # click's own code for usage errors
    INVALID_SPEC = 3, "the stack file is missing, unreadable or fails validation"
    POLICY_VIOLATION = 4, "a mandatory policy rule is violated"
    # Refusals before anything changes (scalestack up, deploy, destroy): the message names the way past.
    UNSAFE_CHANGE = 5, "the diff replaces a stateful resource, or a deploy's goes beyond the image tag"
    DELETION_PROTECTED = 6, "deletion protection is on for a resource of the stack"
    REMOTE_COMMAND_FAILED = 7, "the command ran on the instance and failed (its own exit code is shown)"
    # Deploy pipeline (scripts/deploy): one code per step that can fail, in pipeline order.
    MISSING_CREDENTIALS = 10, "no usable AWS credentials (STS get-caller-identity failed)"
    ENGINE_UNREACHABLE = 11, "the Docker engine, pulumi CLI or session-manager-plugin cannot be reached"
    BUILD_FAILED = 12, "the image build failed; nothing was pushed or changed"
    PUSH_FAILED = 13, "the push to ECR failed; the stack was not changed"
    MIGRATION_FAILED = 14, "the migrate command failed before any traffic moved; the stack was not changed"
    INFRA_UPDATE_FAILED = 15, "`pulumi up`, preview or destroy failed; a deploy restored the image tag"
    ROLLOUT_FAILED = 16, "the instance refresh or target health failed and no rollback was possible"
    SMOKE_TEST_FAILED = 17, "the public URL failed its smoke test and no rollback was possible"
    ROLLED_BACK = 18, "the new version failed after going live and the previous one is back in service"
    ROLLBACK_FAILED = 19, "the new version failed and so did the rollback: a person must look now"
    INTERRUPTED = 130, "interrupted (Ctrl-C)"  # by shell convention, 128 + SIGINT


def exit_codes_help(codes: Iterable[ExitCode]) -> str:
    """The `Exit codes:` paragraph of a command's --help, from the codes' own descriptions.

    Click rewraps help text unless a paragraph starts with \\b; this one keeps one code per line.
    """
    lines = [f"  {code.value:>3}  {code.description}" for code in sorted(set(codes))]
    return "\b\nExit codes:\n" + "\n".join(lines)


_EVERY_COMMAND = (ExitCode.OK, ExitCode.FAILURE, ExitCode.USAGE, ExitCode.INVALID_SPEC)
_READS_AWS = (ExitCode.MISSING_CREDENTIALS, ExitCode.ENGINE_UNREACHABLE)

# The codes each command can end with; its --help lists them (scripts/command.py `Command`).
COMMAND_CODES: dict[str, tuple[ExitCode, ...]] = {
    "plan": (*_EVERY_COMMAND, ExitCode.POLICY_VIOLATION),
    "policy": _EVERY_COMMAND,
    "cost": _EVERY_COMMAND,
    # Every step's failure class, each rollback outcome, Ctrl-C; not destroy's or run's own refusals.
    "deploy": tuple(
        code for code in ExitCode if code not in {ExitCode.DELETION_PROTECTED, ExitCode.REMOTE_COMMAND_FAILED}
    ),
    # Rollback runs `pulumi up` and an instance refresh of its own; nothing rolls it back in turn.
    "rollback": (
        *_EVERY_COMMAND,
        *_READS_AWS,
        ExitCode.INFRA_UPDATE_FAILED,
        ExitCode.ROLLOUT_FAILED,
        ExitCode.ROLLBACK_FAILED,
        ExitCode.INTERRUPTED,
    ),
    "status": (*_EVERY_COMMAND, *_READS_AWS, ExitCode.INTERRUPTED),
    "images": (*_EVERY_COMMAND, *_READS_AWS, ExitCode.INTERRUPTED),
    "up": (
        *_EVERY_COMMAND,
        *_READS_AWS,
        ExitCode.POLICY_VIOLATION,
        ExitCode.UNSAFE_CHANGE,
        ExitCode.INFRA_UPDATE_FAILED,
        ExitCode.INTERRUPTED,
    ),
    "destroy": (*_EVERY_COMMAND, *_READS_AWS, ExitCode.DELETION_PROTECTED, ExitCode.INTERRUPTED),
    "logs": (*_EVERY_COMMAND, ExitCode.MISSING_CREDENTIALS, ExitCode.INTERRUPTED),
    "run": (*_EVERY_COMMAND, *_READS_AWS, ExitCode.REMOTE_COMMAND_FAILED, ExitCode.INTERRUPTED),
    # exec becomes `aws ssm start-session`: after that, the exit code is the session's.
    "exec": (*_EVERY_COMMAND, *_READS_AWS),
    "secret": (*_EVERY_COMMAND, ExitCode.MISSING_CREDENTIALS),
}
