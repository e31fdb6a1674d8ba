"""The shell an instance runs at boot, executed here against a stand-in `aws` command.

The scripts cannot run on a real instance here, but what they compute can: the container's environment
from the stack's parameters and secrets, and the systemd unit that runs the image.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from infra.components.app_settings import APP_DATABASE_USER, TOKEN_DIR_IN_CONTAINER, render_script
from infra.planned import Plan
from infra.policies.values import plain
from infra.spec import StackSpec

Planned = Callable[[str], tuple[StackSpec, Plan]]
DB_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db"
CACHE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth"
PASSWORD = "p@ss:w/rd%"
TOKEN = "tok+en/="

FAKE_AWS = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
COUNTER = os.environ["FAKE_AWS_COUNTER"]
if args[:2] == ["ssm", "get-parameters-by-path"]:
    path = args[args.index("--path") + 1]
    values = {{"DATABASE_HOST": "primary.db", "DATABASE_REPLICA_HOSTS": "r1.db,r2.db", "DATABASE_NAME": "app",
               "REDIS_HOST": "master.cache", "PORT": "8000", "FEATURE_FLAG": "on"}}
    print(json.dumps({{"Parameters": [{{"Name": f"{{path}}/{{k}}", "Value": v}} for k, v in values.items()]}}))
elif args[:2] == ["secretsmanager", "get-secret-value"]:
    arn = args[args.index("--secret-id") + 1]
    secret = json.dumps({{"username": "app_admin", "password": {PASSWORD!r}}}) if arn == {DB_SECRET!r} else {TOKEN!r}
    print(json.dumps({{"SecretString": secret}}))
elif args[:2] == ["rds", "generate-db-auth-token"]:
    # Bare presigned URL, as awscli/examples/rds/generate-auth-token.rst shows; counted so a test can tell
    # a re-signed token from the first one.
    count = int(open(COUNTER).read()) + 1 if os.path.exists(COUNTER) else 1
    open(COUNTER, "w").write(str(count))
    host, port, user = (args[args.index(flag) + 1] for flag in ("--hostname", "--port", "--username"))
    print(f"{{host}}:{{port}}/?Action=connect&DBUser={{user}}&X-Amz-Expires=900&X-Amz-Signature=sig{{count}}")
else:
    sys.exit(f"unexpected aws call: {{args}}")
"""


def run_render(tmp_path: Path, *mode: str, replicas: str = "r1.db,r2.db") -> None:
    """Runs the render script in `mode` (none: before the container starts) against the stand-in aws."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        fake = bin_dir / "aws"
        fake.write_text(FAKE_AWS.replace('"r1.db,r2.db"', json.dumps(replicas)))
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
        # A plain interpreter: a version manager's shim would put its own directory (and a real aws) first.
        (bin_dir / "python3").symlink_to(sys.executable)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SCALESTACK_ENV_FILE": str(tmp_path / "app.env"),
        "SCALESTACK_MIGRATION_ENV_FILE": str(tmp_path / "migrate.env"),
        "SCALESTACK_TOKEN_DIR": str(tmp_path / "tokens"),
        "FAKE_AWS_COUNTER": str(tmp_path / "signed"),
    }
    script = render_script("/scalestack/dev/app", DB_SECRET, CACHE_SECRET)
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script, "render", *mode], env=environment, check=True, timeout=60
    )


def read_env(path: Path) -> dict[str, str]:
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # credentials: readable by root only
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def render(tmp_path: Path, replicas: str = "r1.db,r2.db") -> dict[str, str]:
    run_render(tmp_path, replicas=replicas)
    return read_env(tmp_path / "app.env")


def tokens(tmp_path: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((tmp_path / "tokens").iterdir())}


def test_render_composes_urls_from_parameters_and_secrets(tmp_path: Path) -> None:
    env = render(tmp_path)
    primary = urllib.parse.urlsplit(env["DATABASE_URL"])
    assert (primary.scheme, primary.hostname, primary.port, primary.path) == (
        "postgresql+asyncpg",
        "primary.db",
        5432,
        "/app",
    )
    assert primary.query == "ssl=require"
    replicas = [urllib.parse.urlsplit(u) for u in env["DATABASE_REPLICA_URLS"].split(",")]
    assert [u.hostname for u in replicas] == ["r1.db", "r2.db"]
    cache = urllib.parse.urlsplit(env["REDIS_URL"])
    assert (cache.scheme, cache.hostname, cache.port) == ("rediss", "master.cache", 6379)
    assert urllib.parse.unquote(cache.password or "") == TOKEN and cache.query == "ssl_cert_reqs=required"
    assert env["FEATURE_FLAG"] == "on" and env["PORT"] == "8000"


def test_app_connects_as_its_own_role_with_tokens_never_the_master_login(tmp_path: Path) -> None:
    """Defect 13: the master password rotates every 7 days; the app must neither hold nor need it."""
    env = render(tmp_path)
    urls = [env["DATABASE_URL"], *env["DATABASE_REPLICA_URLS"].split(",")]
    assert {urllib.parse.urlsplit(u).username for u in urls} == {APP_DATABASE_USER}
    assert {urllib.parse.urlsplit(u).password for u in urls} == {None}
    assert PASSWORD not in (tmp_path / "app.env").read_text()
    assert urllib.parse.quote(PASSWORD, safe="") not in (tmp_path / "app.env").read_text()
    assert "MIGRATION_DATABASE_URL" not in env and not (tmp_path / "migrate.env").exists()
    # One token per host, signed for that host and the app's user, readable by the container's user.
    assert env["DATABASE_PASSWORD_DIR"] == TOKEN_DIR_IN_CONTAINER
    signed = tokens(tmp_path)
    assert sorted(signed) == ["primary.db", "r1.db", "r2.db"]
    for host, token in signed.items():
        assert token.startswith(f"{host}:5432/?Action=connect&DBUser={APP_DATABASE_USER}&")
        assert oct((tmp_path / "tokens" / host).stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "tokens").stat().st_mode & 0o777) == "0o755"


def test_the_timer_re_signs_every_token_from_the_env_file(tmp_path: Path) -> None:
    render(tmp_path)
    first = tokens(tmp_path)
    run_render(tmp_path, "tokens")
    again = tokens(tmp_path)
    assert sorted(again) == sorted(first)
    assert all(again[host] != first[host] for host in first)  # each one signed anew


def test_only_the_migrate_mode_renders_the_master_login(tmp_path: Path) -> None:
    render(tmp_path)
    run_render(tmp_path, "migrate")
    migration = urllib.parse.urlsplit(read_env(tmp_path / "migrate.env")["MIGRATION_DATABASE_URL"])
    assert (migration.username, urllib.parse.unquote(migration.password or "")) == ("app_admin", PASSWORD)
    assert (migration.hostname, migration.path, migration.query) == ("primary.db", "/app", "ssl=require")


def test_no_replicas_means_an_empty_replica_list(tmp_path: Path) -> None:
    assert render(tmp_path, replicas="-")["DATABASE_REPLICA_URLS"] == ""
    assert sorted(tokens(tmp_path)) == ["primary.db"]


def test_boot_script_runs_the_image_with_the_role_command(planned: Planned) -> None:
    spec, plan = planned("dev")
    scripts = {
        r.name: base64.b64decode(plain(r.inputs)["userData"]).decode()
        for r in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    }
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/scalestack-dev:{spec.image_tag}"
    web_start = next(line for line in scripts["web-lt"].splitlines() if line.startswith("ExecStart="))
    assert f"-p {spec.app.port}:{spec.app.port}" in web_start
    assert scripts["web-lt"].count(image) == 2  # pulled, then run with the image's own command
    assert f"{image} celery -A app.tasks worker --loglevel=INFO" in scripts["worker-lt"]
    assert "-p " not in next(
        line for line in scripts["worker-lt"].splitlines() if line.startswith("ExecStart=")
    )
    for script in scripts.values():
        assert "--stop-timeout 45" in script and "ExecStartPre=/usr/local/bin/scalestack-render-env" in script
        assert "AWS_DEFAULT_REGION=us-east-1" in script
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # the whole script parses
