"""The app's settings: plain values in SSM Parameter Store, credentials in Secrets Manager.

Instances turn them into the container's environment at boot (see `render_script`): the app sees only
`DATABASE_URL`, `DATABASE_REPLICA_URLS`, `REDIS_URL` and its own settings, never AWS APIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

# What the kit itself tells the app; a stack's own settings may not reuse these names.
KIT_SETTINGS = frozenset(
    {"PORT", "DATABASE_HOST", "DATABASE_REPLICA_HOSTS", "DATABASE_NAME", "REDIS_HOST"}
    | {"DATABASE_URL", "DATABASE_REPLICA_URLS", "REDIS_URL"}
)


@dataclass(frozen=True)
class AppSettingsArgs:
    parameter_path: str
    """SSM path under which each parameter is one environment variable, e.g. /scalestack/prod/app."""
    database_host: pulumi.Input[str]
    database_replica_hosts: Sequence[pulumi.Input[str]]
    database_name: str
    database_secret_arn: pulumi.Input[str]
    """The RDS-managed master secret (JSON with username and password)."""
    cache_host: pulumi.Input[str]
    cache_secret_arn: pulumi.Input[str]
    port: int = 8000
    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra plain settings from the stack spec."""


class AppSettings(pulumi.ComponentResource):
    parameter_path: str
    parameter_path_arn: pulumi.Output[str]
    secret_arns: list[pulumi.Output[str]]
    render_script: pulumi.Output[str]

    def __init__(self, name: str, args: AppSettingsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:app:AppSettings", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        values: dict[str, pulumi.Input[str]] = {
            **args.environment,
            "PORT": str(args.port),
            "DATABASE_HOST": args.database_host,
            "DATABASE_REPLICA_HOSTS": pulumi.Output.all(*args.database_replica_hosts).apply(",".join),
            "DATABASE_NAME": args.database_name,
            "REDIS_HOST": args.cache_host,
        }
        for key, value in values.items():
            aws.ssm.Parameter(
                f"{name}-{key.lower().replace('_', '-')}",
                name=f"{args.parameter_path}/{key}",
                type="String",
                # An empty list of replicas is still a parameter: SSM refuses empty values.
                value=pulumi.Output.from_input(value).apply(lambda v: v or "-"),
                opts=child,
            )
        self.parameter_path = args.parameter_path
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        self.parameter_path_arn = pulumi.Output.concat(
            "arn:aws:ssm:", region, ":", identity.account_id, ":parameter", args.parameter_path
        )
        self.secret_arns = [
            pulumi.Output.from_input(args.database_secret_arn),
            pulumi.Output.from_input(args.cache_secret_arn),
        ]
        self.render_script = pulumi.Output.all(args.database_secret_arn, args.cache_secret_arn).apply(
            lambda arns: render_script(args.parameter_path, arns[0], arns[1])
        )
        self.register_outputs({"parameterPath": self.parameter_path})


def render_script(parameter_path: str, database_secret_arn: str, cache_secret_arn: str) -> str:
    """Shell run before each container start: fresh credentials after a rotation need only a restart."""
    return f"""umask 077
env_file="${{SCALESTACK_ENV_FILE:-/etc/scalestack/app.env}}"
python3 - > "$env_file.new" <<'PY'
import json, subprocess, urllib.parse

def aws(*args):
    return json.loads(subprocess.check_output(["aws", *args, "--output", "json"]))

def secret(arn):
    return aws("secretsmanager", "get-secret-value", "--secret-id", arn)["SecretString"]

quote = lambda text: urllib.parse.quote(text, safe="")
found = aws("ssm", "get-parameters-by-path", "--path", "{parameter_path}", "--recursive")["Parameters"]
env = {{p["Name"].rsplit("/", 1)[1]: p["Value"] for p in found}}
db = json.loads(secret("{database_secret_arn}"))
login = quote(db["username"]) + ":" + quote(db["password"])
url = lambda host: f"postgresql+asyncpg://{{login}}@{{host}}:5432/{{env['DATABASE_NAME']}}?ssl=require"
env["DATABASE_URL"] = url(env["DATABASE_HOST"])
env["DATABASE_REPLICA_URLS"] = ",".join(url(h) for h in env["DATABASE_REPLICA_HOSTS"].split(",") if h != "-")
# Celery refuses a rediss:// URL that does not say how to check the server's certificate.
token = quote(secret("{cache_secret_arn}"))
env["REDIS_URL"] = f"rediss://:{{token}}@{{env['REDIS_HOST']}}:6379/0?ssl_cert_reqs=required"
print("\\n".join(f"{{k}}={{v}}" for k, v in sorted(env.items())))
PY
mv "$env_file.new" "$env_file"
"""
