"""Writes what the app container reads, in one of three modes (its first argument); runs on the instance.

A `string.Template`: the seven placeholder constants below are filled in by `infra.components.app_settings`
when the user data is rendered, and the result runs under the instance's own python3 (Amazon Linux
2023's 3.9: nothing newer than its standard library). `app` (before each container start): the app's env
file (the stack's settings and the app's own secrets, the app's role, no database password), then the
tokens. `tokens` (the timer): re-sign the token of each host in the env file. `migrate`: the migration env
file with the master login, on the service that runs the migrations only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from typing import Any

PARAMETER_PATH = "${parameter_path}"
USES_DATABASE = bool("${uses_database}")
"""False for a service that does not use the database: no URLs, no tokens (its role may not connect)."""
MASTER_SECRET_ARN = "${master_secret_arn}"
"""The master login's secret, for `migrate`: empty on every service but the one the deploy migrates on
(the others connect as the app's role with tokens, and their roles may not read it)."""
CACHE_SECRET_ARN = "${cache_secret_arn}"
"""Empty for a service that does not use the cache: no REDIS_URL (its role may not read the token)."""
APP_DATABASE_USER = "${app_database_user}"
TOKEN_DIR_IN_CONTAINER = "${token_dir_in_container}"
APP_SECRETS_NAME = "${app_secrets_name}"


def aws(*args: str) -> Any:
    return json.loads(subprocess.check_output(["aws", *args, "--output", "json"]))


def secret(arn: str) -> str:
    return str(aws("secretsmanager", "get-secret-value", "--secret-id", arn)["SecretString"])


def app_secrets() -> dict[str, str]:
    """The app's own secrets (`scalestack secret set`), one JSON object; a stack with none has no secret."""
    found = subprocess.run(
        ["aws", "secretsmanager", "get-secret-value", "--secret-id", APP_SECRETS_NAME, "--output", "json"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        if "ResourceNotFoundException" in found.stderr:
            return {}
        sys.stderr.write(found.stderr)
        raise SystemExit(found.returncode)
    values: dict[str, str] = json.loads(json.loads(found.stdout)["SecretString"])
    return values


def write(path: str, text: str, mode: int = 0o600) -> None:
    with open(path + ".new", "w") as out:
        out.write(text)
    os.chmod(path + ".new", mode)
    os.replace(path + ".new", path)


def env_text(env: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in sorted(env.items()))


def read_env(path: str) -> dict[str, str]:
    with open(path) as lines:
        return dict(line.rstrip("\n").split("=", 1) for line in lines if "=" in line)


def hosts(env: dict[str, str]) -> list[str]:
    return [env["DATABASE_HOST"], *(h for h in env["DATABASE_REPLICA_HOSTS"].split(",") if h != "-")]


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def url(env: dict[str, str], login: str, host: str) -> str:
    return f"postgresql+asyncpg://{login}@{host}:5432/{env['DATABASE_NAME']}?ssl=require"


def sign_tokens(env: dict[str, str], token_dir: str) -> None:
    # One token per host: a token is signed for one hostname, port and user. Readable by the container's
    # unprivileged user through the read-only mount; it expires 15 minutes after signing.
    os.makedirs(token_dir, mode=0o755, exist_ok=True)
    os.chmod(token_dir, 0o755)
    # The command prints the bare token (a presigned URL), whatever --output says.
    for host in hosts(env):
        sign = ["aws", "rds", "generate-db-auth-token", "--hostname", host, "--port", "5432"]
        token = subprocess.check_output([*sign, "--username", APP_DATABASE_USER], text=True)
        write(os.path.join(token_dir, host), token.strip(), 0o644)


def main(mode: str, env_file: str, migration_env_file: str, token_dir: str) -> None:
    if mode == "tokens":
        if USES_DATABASE:
            sign_tokens(read_env(env_file), token_dir)
        return
    if mode == "migrate" and not MASTER_SECRET_ARN:
        # Refused before any AWS call: this role may not read the master login.
        raise SystemExit(
            "this service does not run the migrations (the default web service does): no master login"
        )
    # SecureString parameters come back as ciphertext unless decrypted (the instance role may use the key).
    found = aws(
        "ssm", "get-parameters-by-path", "--path", PARAMETER_PATH, "--recursive", "--with-decryption"
    )["Parameters"]
    env = {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in found}
    if mode == "migrate":
        db = json.loads(secret(MASTER_SECRET_ARN))
        master = quote(db["username"]) + ":" + quote(db["password"])
        write(
            migration_env_file, env_text({"MIGRATION_DATABASE_URL": url(env, master, env["DATABASE_HOST"])})
        )
        return
    # Beside the kit's settings and the stack's own; `scalestack secret` refuses their names, and they win.
    env = {**app_secrets(), **env}
    if USES_DATABASE:
        env["DATABASE_URL"] = url(env, APP_DATABASE_USER, env["DATABASE_HOST"])
        env["DATABASE_REPLICA_URLS"] = ",".join(url(env, APP_DATABASE_USER, h) for h in hosts(env)[1:])
        env["DATABASE_PASSWORD_DIR"] = TOKEN_DIR_IN_CONTAINER
    if CACHE_SECRET_ARN:
        # Celery refuses a rediss:// URL that does not say how to check the server's certificate.
        token = quote(secret(CACHE_SECRET_ARN))
        env["REDIS_URL"] = f"rediss://:{token}@{env['REDIS_HOST']}:6379/0?ssl_cert_reqs=required"
    write(env_file, env_text(env))
    if USES_DATABASE:
        sign_tokens(env, token_dir)


if __name__ == "__main__":
    main(*sys.argv[1:])
