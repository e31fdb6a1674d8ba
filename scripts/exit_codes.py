"""One exit code per failure class, so CI can branch on what went wrong without parsing text."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # unexpected: a bug in scalestack; the message says where to report it
    USAGE = 2  # a bad flag or argument (click's own code for usage errors)
    INVALID_SPEC = 3  # the stack file is missing, unreadable or fails validation
    POLICY_VIOLATION = 4  # a mandatory policy rule is violated
    INTERRUPTED = 130  # Ctrl-C, by shell convention (128 + SIGINT)
