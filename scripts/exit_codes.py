"""One exit code per failure class, so CI can branch on what went wrong without parsing text.

This module is the one home of what each code means and which codes each command can end with; every
command's `--help` is generated from it (scripts/command.py), so the help cannot drift from the codes.
"""

from collections.abc import Mapping
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2  # click's own code for usage errors
    INVALID_SPEC = 3
    POLICY_VIOLATION = 4
    # Deploy pipeline (scripts/deploy): one code per step that can fail, in pipeline order.
    MISSING_CREDENTIALS = 10
    ENGINE_UNREACHABLE = 11
    BUILD_FAILED = 12
    PUSH_FAILED = 13
    MIGRATION_FAILED = 14
    INFRA_UPDATE_FAILED = 15
    ROLLOUT_FAILED = 16
    SMOKE_TEST_FAILED = 17
    ROLLED_BACK = 18
    ROLLBACK_FAILED = 19
    INTERRUPTED = 130  # by shell convention (128 + SIGINT)


MEANING: Mapping[ExitCode, str] = {
    ExitCode.OK: "done (warnings, e.g. a slow CloudFront invalidation, do not change it)",
    ExitCode.FAILURE: "unexpected error: a bug in scalestack (SCALESTACK_DEBUG=1 shows the traceback)",
    ExitCode.USAGE: "bad input (flag, format, tag), stack not brought up, a refresh running, not confirmed",
    ExitCode.INVALID_SPEC: "unknown stack, invalid stack file, or a waiver naming no rule",
    ExitCode.POLICY_VIOLATION: "a mandatory policy rule is violated",
    ExitCode.MISSING_CREDENTIALS: "no usable AWS credentials",
    ExitCode.ENGINE_UNREACHABLE: "Docker engine (DOCKER_HOST) or pulumi CLI unreachable",
    ExitCode.BUILD_FAILED: "image build failed (nothing changed)",
    ExitCode.PUSH_FAILED: "push to ECR failed (nothing changed)",
    ExitCode.MIGRATION_FAILED: "migrations failed (no traffic moved)",
    ExitCode.INFRA_UPDATE_FAILED: "`pulumi up` failed (a deploy puts the old tag back, stops the refresh)",
    ExitCode.ROLLOUT_FAILED: "the rollout failed and nothing was rolled back (no previous tag)",
    ExitCode.SMOKE_TEST_FAILED: "the smoke test failed and nothing was rolled back (no previous tag)",
    ExitCode.ROLLED_BACK: "the new version failed after going live; the previous one is back",
    ExitCode.ROLLBACK_FAILED: "the new version failed and so did the rollback: look now",
    ExitCode.INTERRUPTED: "Ctrl-C: the message says what state the stack is in",
}

_EVERY_COMMAND = (ExitCode.OK, ExitCode.FAILURE, ExitCode.USAGE, ExitCode.INVALID_SPEC)
_READS_AWS = (ExitCode.MISSING_CREDENTIALS, ExitCode.ENGINE_UNREACHABLE)

# The codes each command can end with, in the order its --help lists them.
COMMAND_CODES: Mapping[str, tuple[ExitCode, ...]] = {
    "plan": (*_EVERY_COMMAND, ExitCode.POLICY_VIOLATION),
    "policy": _EVERY_COMMAND,
    "cost": _EVERY_COMMAND,
    "deploy": (
        *_EVERY_COMMAND,
        *_READS_AWS,
        ExitCode.BUILD_FAILED,
        ExitCode.PUSH_FAILED,
        ExitCode.MIGRATION_FAILED,
        ExitCode.INFRA_UPDATE_FAILED,
        ExitCode.ROLLOUT_FAILED,
        ExitCode.SMOKE_TEST_FAILED,
        ExitCode.ROLLED_BACK,
        ExitCode.ROLLBACK_FAILED,
        ExitCode.INTERRUPTED,
    ),
    # Rollback runs `pulumi up` and an instance refresh of its own; it is never itself rolled back.
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
}


def exit_codes_help(command: str) -> str:
    """The `Exit codes:` block of a command's --help (`\\b` keeps click from rewrapping it)."""
    lines = [f"  {int(code):>3}  {MEANING[code]}" for code in COMMAND_CODES[command]]
    return "\n\b\nExit codes:\n" + "\n".join(lines) + "\n"
