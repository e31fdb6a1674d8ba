"""The exception that crosses module boundaries: a failure class (exit code) and a readable account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from scripts.errors import CommandError
from scripts.exit_codes import ExitCode


class DeployError(CommandError):
    """A failure of the deploy pipeline or its adapters; the code says which step's failure class."""


class MissingResource(LookupError):
    """AWS has no resource the stack's outputs name (a deleted group, one without a launch template).

    The adapters raise it; `aws_errors` turns it into the step's failure. A plain KeyError or IndexError is
    not caught there: it is a bug in scalestack, and the command line reports it as one, with no rollback.
    """


# AWS answers these when the caller's credentials are absent, wrong, expired or not allowed.
_CREDENTIAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)


@contextmanager
def aws_errors(code: ExitCode, doing: str) -> Iterator[None]:
    """Turn botocore's exceptions into the failure class of the step that made the call."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as err:
        raise DeployError(
            ExitCode.MISSING_CREDENTIALS,
            f"no AWS credentials while {doing} ({err}). "
            "Set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run in CI with the "
            "OIDC role.",
        ) from None
    except ClientError as err:
        aws_code = err.response.get("Error", {}).get("Code", "")
        if aws_code in _CREDENTIAL_CODES:
            raise DeployError(
                ExitCode.MISSING_CREDENTIALS,
                f"AWS refused the credentials while {doing}: {err}. "
                "Check the profile or role and its permissions.",
            ) from None
        raise DeployError(code, f"AWS error while {doing}: {err}") from None
    except (BotoCoreError, MissingResource) as err:
        raise DeployError(code, f"failed while {doing}: {err}") from None
