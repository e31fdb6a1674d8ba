"""`scalestack secret` against moto's Secrets Manager: values stay out of every output, the names the kit
or the stack file sets are refused, and what is set is what the instances' renderer reads."""

from __future__ import annotations

import json

import boto3
import pytest
from click.testing import CliRunner

from infra.spec import parse_config
from scripts.cli import cli
from scripts.deploy.errors import DeployError
from scripts.exit_codes import ExitCode
from scripts.ops.secrets import check_name

VALUE = "sk_live_51HxYz"


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def stored(stack: str = "dev") -> dict[str, str]:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return dict(
        json.loads(client.get_secret_value(SecretId=f"scalestack/{stack}/app-secrets")["SecretString"])
    )


def test_set_list_rm_and_the_value_is_never_printed(aws: str) -> None:
    code, output = invoke("secret", "set", "--stack", "dev", "STRIPE_KEY", input=VALUE + "\n")
    assert code == ExitCode.OK and VALUE not in output
    assert stored() == {"STRIPE_KEY": VALUE}
    invoke("secret", "set", "--stack", "dev", "SENTRY_DSN", input="https://k@sentry.example/1")

    code, output = invoke("secret", "list", "--stack", "dev")
    assert code == ExitCode.OK and output.splitlines() == ["SENTRY_DSN", "STRIPE_KEY"]

    code, output = invoke("secret", "rm", "--stack", "dev", "STRIPE_KEY")
    assert code == ExitCode.OK and stored() == {"SENTRY_DSN": "https://k@sentry.example/1"}


def test_a_stack_without_secrets_lists_none(aws: str) -> None:
    assert invoke("secret", "list", "--stack", "dev") == (ExitCode.OK, "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "DATABASE_URL",
            "error: secret name DATABASE_URL: set by the kit itself (from the database, cache and port); pick another name",
        ),
        (
            "stripe_key",
            "error: secret name 'stripe_key': use an upper-case letter then up to 63 upper-case letters, digits or '_'",
        ),
    ],
)
def test_names_the_kit_sets_or_malformed_are_refused_in_one_line(aws: str, name: str, message: str) -> None:
    code, output = invoke("secret", "set", "--stack", "dev", name, input=VALUE)
    assert code == ExitCode.USAGE and output.strip().splitlines() == [message]


def test_a_name_the_stack_file_sets_is_refused() -> None:
    spec = parse_config(
        {
            "aws:region": "us-east-1",
            "scalestack:environment": "dev",
            "scalestack:imageTag": "v1",
            "scalestack:app": {"environment": {"FEATURE_FLAG": "on"}},
        },
        stack="dev",
        source="stacks/Pulumi.dev.yaml",
    )
    with pytest.raises(DeployError) as raised:
        check_name(spec, "FEATURE_FLAG")
    assert raised.value.message == (
        "secret name FEATURE_FLAG: stacks/Pulumi.dev.yaml sets it in scalestack:app.environment (plain, in "
        "SSM); remove it there first, or pick another name"
    )


def test_bad_usage_is_one_line(aws: str) -> None:
    code, output = invoke("secret", "rm", "--stack", "dev", "NOPE")
    assert code == ExitCode.USAGE and output.strip() == "error: stack dev has no secret NOPE (it has: none)"
    code, output = invoke("secret", "set", "--stack", "dev", "MULTI", input="a\nb\n")
    assert code == ExitCode.USAGE and "line break" in output
    code, _ = invoke("secret", "list", "--stack", "dev", "EXTRA")
    assert code == ExitCode.USAGE
