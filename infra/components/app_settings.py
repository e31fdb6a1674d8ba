"""The app's settings: SecureString parameters in SSM Parameter Store, credentials in Secrets Manager.

Instances turn them into the container's environment at boot (see `render_script`): the app sees only
`DATABASE_URL`, `DATABASE_REPLICA_URLS`, `DATABASE_PASSWORD_DIR`, `REDIS_URL`, its own settings and its own
secrets (`scalestack secret`, one Secrets Manager secret per stack), never AWS APIs.

The app connects to PostgreSQL as its own role (`APP_DATABASE_USER`), never as the master user: RDS
rotates the master secret every 7 days by default
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html), and a container that
read it at start would fail every new connection after a rotation. The role logs in with RDS IAM
authentication tokens (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html):
the instance signs one per database host with its own credentials (`aws rds generate-db-auth-token`, a
local SigV4 presign, https://docs.aws.amazon.com/cli/latest/reference/rds/generate-db-auth-token.html)
into `TOKEN_DIR_ON_HOST`, a timer re-signs them well within their 15-minute life, and the app reads the
file of a host for each new connection. The container never holds AWS credentials (IMDS hop limit 1).
The master login is rendered only for the migrate command (`render_script`'s `migrate` mode) on the
service the deploy runs it on (`Service.migrates`, the default web service: no other role may read the
master secret), and the migration creates the app's role and its grants (app_template/app/migrate.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components import boot
from infra.contract import INSTANCE_ENV_FILE, MIGRATION_ENV_FILE, TOKEN_DIR_IN_CONTAINER, TOKEN_DIR_ON_HOST
from infra.kms import encryption_key

APP_DATABASE_USER = "app_user"
"""The PostgreSQL role the app connects as; the migration creates it with DML on the app's tables only."""
TOKEN_REFRESH_MINUTES = 5
"""Tokens live 15 minutes; re-signing every 5 leaves two refreshes of margin."""


@dataclass(frozen=True)
class AppSettingsArgs:
    parameter_path: str
    """SSM path under which each parameter is one environment variable, e.g. /scalestack/prod/app."""
    database_host: pulumi.Input[str]
    database_replica_hosts: Sequence[pulumi.Input[str]]
    database_name: str
    database_secret_arn: pulumi.Input[str]
    """The RDS-managed master secret (JSON with username and password): migrations only."""
    database_resource_ids: Sequence[pulumi.Input[str]]
    """DbiResourceId of the primary and of each replica: IAM authentication names each instance by it."""
    cache_host: pulumi.Input[str]
    cache_secret_arn: pulumi.Input[str]
    port: int
    environment: Mapping[str, str]
    """Extra plain settings from the stack spec."""
    app_secrets_name: str
    """The secret `scalestack secret` keeps the app's own secrets in (created on the first `set`)."""


class AppSettings(pulumi.ComponentResource):
    parameter_path: str
    parameter_path_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    """The key the parameters are encrypted under: readers need kms:Decrypt on it."""
    database_secret_arn: pulumi.Output[str]
    """The master login: what the service that runs the migrations reads (its migrate command)."""
    cache_secret_arn: pulumi.Output[str]
    """The cache's auth token: what a service that uses the cache reads."""
    app_secrets_arn: pulumi.Output[str]
    """The app's own secrets (`scalestack secret`): every service reads them."""
    database_user_arns: list[pulumi.Output[str]]

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
        # SecureString under the stack's own key: a host name is no secret, but a setting from the stack
        # file may be, and one kind for all keeps the reader (`--with-decryption`) simple.
        key = encryption_key(f"{name}-key", "App settings in Parameter Store", self)
        self.kms_key_arn = key.arn
        for setting, value in values.items():
            aws.ssm.Parameter(
                f"{name}-{setting.lower().replace('_', '-')}",
                name=f"{args.parameter_path}/{setting}",
                type="SecureString",
                key_id=key.arn,
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
        self.database_secret_arn = pulumi.Output.from_input(args.database_secret_arn)
        self.cache_secret_arn = pulumi.Output.from_input(args.cache_secret_arn)
        # Secrets Manager ends a secret's ARN with '-' and six random characters, so a policy names a
        # secret not created yet by `-??????` (https://docs.aws.amazon.com/secretsmanager/latest/
        # userguide/auth-and-access_examples.html#auth-and-access_examples_wildcard).
        self.app_secrets_arn = pulumi.Output.concat(
            "arn:aws:secretsmanager:", region, ":", identity.account_id, ":secret:",
            args.app_secrets_name, "-??????",
        )  # fmt: skip
        # rds-db:connect names the instance by its resource ID, and a replica has its own
        # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html).
        self.database_user_arns = [
            pulumi.Output.concat(
                "arn:aws:rds-db:",
                region,
                ":",
                identity.account_id,
                ":dbuser:",
                resource_id,
                f"/{APP_DATABASE_USER}",
            )
            for resource_id in args.database_resource_ids
        ]
        self._args = args
        self.register_outputs({"parameterPath": self.parameter_path})

    def render_script_for(self, uses_database: bool, migrates: bool, uses_cache: bool) -> pulumi.Output[str]:
        """The renderer of a service's instances: it reads only the secrets of the stores it uses, and the
        master login only on the service that runs the migrations (its role may read no other)."""
        args = self._args
        return pulumi.Output.all(self.database_secret_arn, self.cache_secret_arn).apply(
            lambda arns: render_script(
                args.parameter_path,
                uses_database,
                arns[0] if uses_database and migrates else None,
                arns[1] if uses_cache else None,
                args.app_secrets_name,
            )
        )


def render_script(
    parameter_path: str,
    uses_database: bool,
    master_secret_arn: str | None,
    cache_secret_arn: str | None,
    app_secrets_name: str,
) -> str:
    """Shell that writes what the container reads, in one of three modes (its first argument).

    No argument (before each container start): the app's env file, with the app's role and no database
    password, then the tokens. `tokens` (the timer): re-sign the token of each host in the env file.
    `migrate` (the migrate command): the migration env file with the master login, fresh from its secret.
    A service that does not use the database gets no database URLs or tokens, one that does not use the
    cache (None) no REDIS_URL, and one that does not run the migrations (no master secret) refuses
    `migrate` without asking for the master login: its role may not read those secrets.
    """
    python = boot.render(
        "render_env.py",
        parameter_path=parameter_path,
        uses_database="yes" if uses_database else "",
        master_secret_arn=master_secret_arn or "",
        cache_secret_arn=cache_secret_arn or "",
        app_database_user=APP_DATABASE_USER,
        token_dir_in_container=TOKEN_DIR_IN_CONTAINER,
        app_secrets_name=app_secrets_name,
    )
    return boot.render(
        "render-env.sh.tmpl",
        env_file=INSTANCE_ENV_FILE,
        migration_env_file=MIGRATION_ENV_FILE,
        token_dir_on_host=TOKEN_DIR_ON_HOST,
        python=python,
    )
