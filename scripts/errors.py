"""The failure every command raises and the one boundary (scripts/command.py) turns into an exit code."""

from __future__ import annotations

from scripts.exit_codes import ExitCode


class CommandError(Exception):
    """A failure a person can act on. `message` says what was wrong and what is allowed or what to do next."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bug_message(err: BaseException) -> str:
    """What an unexpected exception tells the user: one line, the traceback only when asked for."""
    return (
        f"internal error ({type(err).__name__}: {err}); this is a bug in scalestack. "
        "Run again with SCALESTACK_DEBUG=1 for the traceback and include it in the report."
    )
