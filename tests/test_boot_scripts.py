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

import pytest

from infra.components.app_settings import APP_DATABASE_USER, TOKEN_DIR_IN_CONTAINER, render_script
from infra.planned import Plan
from infra.policies.values import plain
from infra.spec import StackSpec

Planned = Callable[[str], tuple[StackSpec, Plan]]
DB_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db"
CACHE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth"
PASSWORD = "p@ss:w/rd%"
TOKEN = "tok+en/="
APP_SECRETS = "scalestack/dev/app-secrets"

FAKE_AWS = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
COUNTER = os.environ["FAKE_AWS_COUNTER"]
with open(os.environ["FAKE_AWS_CALLS"], "a") as calls:  # every call, so a test can tell what was asked
    calls.write(json.dumps(args) + "\\n")
if args[:2] == ["ssm", "get-parameters-by-path"]:
    path = args[args.index("--path") + 1]
    values = {{"DATABASE_HOST": "primary.db", "DATABASE_REPLICA_HOSTS": "r1.db,r2.db", "DATABASE_NAME": "app",
               "REDIS_HOST": "master.cache", "PORT": "8000", "FEATURE_FLAG": "on"}}
    # Every parameter is a SecureString: without --with-decryption SSM returns its ciphertext
    # (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParametersByPath.html).
    shown = (lambda v: v) if "--with-decryption" in args else (lambda v: "AQICAHciphertext" + v.encode().hex())
    print(json.dumps({{"Parameters": [{{"Name": f"{{path}}/{{k}}", "Type": "SecureString", "Value": shown(v)}}
                                     for k, v in values.items()]}}))
elif args[:3] == ["secretsmanager", "get-secret-value", "--secret-id"] and args[3] == {APP_SECRETS!r}:
    if "FAKE_APP_SECRETS" not in os.environ:
        sys.exit("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation")
    print(json.dumps({{"SecretString": os.environ["FAKE_APP_SECRETS"]}}))
elif args[:2] == ["secretsmanager", "get-secret-value"]:
    arn = args[args.index("--secret-id") + 1]
    if arn in os.environ.get("FAKE_DENIED", "").split(","):  # the role may not read it
        sys.exit(f"An error occurred (AccessDeniedException) when calling the GetSecretValue operation: {{arn}}")
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


def run_render(
    tmp_path: Path,
    *mode: str,
    replicas: str = "r1.db,r2.db",
    app_secrets: str | None = None,
    database: str | None = DB_SECRET,
    cache: str | None = CACHE_SECRET,
    migrates: bool = True,
) -> None:
    """Runs the render script in `mode` (none: before the container starts) against the stand-in aws;
    `migrates`: the service runs the migrations (the default web service), so it gets the master secret."""
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
        "FAKE_AWS_CALLS": str(tmp_path / "calls"),
        **({"FAKE_APP_SECRETS": app_secrets} if app_secrets is not None else {}),
        # The instance role reads only the secrets of the stores its service uses, and the master secret
        # only on the migrating service (program.Data.settings_for).
        "FAKE_DENIED": ",".join(
            arn for arn, used in ((DB_SECRET, database and migrates), (CACHE_SECRET, cache)) if not used
        ),
    }
    master = database if migrates else None
    script = render_script("/scalestack/dev/app", database is not None, master, cache, APP_SECRETS)
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


def test_the_apps_own_secrets_join_its_environment_and_never_shadow_the_kits(tmp_path: Path) -> None:
    """`scalestack secret set` keeps them in one secret; the renderer adds them at each container start."""
    run_render(tmp_path, app_secrets=json.dumps({"STRIPE_KEY": "sk_live_1", "PORT": "1"}))
    env = read_env(tmp_path / "app.env")
    assert env["STRIPE_KEY"] == "sk_live_1" and env["PORT"] == "8000"


def test_a_stack_with_no_app_secrets_renders_without_them(tmp_path: Path) -> None:
    assert "STRIPE_KEY" not in render(tmp_path)


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


def test_a_service_off_the_cache_renders_no_redis_url_and_reads_no_token(tmp_path: Path) -> None:
    run_render(tmp_path, cache=None)
    env = read_env(tmp_path / "app.env")
    assert "REDIS_URL" not in env and env["DATABASE_URL"].startswith("postgresql+asyncpg://app_user@")


def test_a_service_off_the_database_renders_no_database_urls_or_tokens(tmp_path: Path) -> None:
    run_render(tmp_path, database=None)
    env = read_env(tmp_path / "app.env")
    assert not {"DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_PASSWORD_DIR"} & set(env)
    assert env["REDIS_URL"].startswith("rediss://")
    run_render(tmp_path, "tokens", database=None)  # the timer signs nothing
    assert not (tmp_path / "tokens").exists() and not (tmp_path / "signed").exists()
    with pytest.raises(subprocess.CalledProcessError):
        run_render(tmp_path, "migrate", database=None)
    assert not (tmp_path / "migrate.env").exists()


def aws_calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]


def test_a_service_that_does_not_migrate_never_asks_for_the_master_login(tmp_path: Path) -> None:
    """Issue 12: only the default web service runs the migrations, so only its role reads the master
    secret; every other service on the database connects as the app's role with tokens, and its renderer
    neither names the master secret nor asks for it, even when told to migrate."""
    script = render_script("/scalestack/dev/app", True, None, CACHE_SECRET, APP_SECRETS)
    assert DB_SECRET not in script
    run_render(tmp_path, migrates=False)
    env = read_env(tmp_path / "app.env")
    assert urllib.parse.urlsplit(env["DATABASE_URL"]).username == APP_DATABASE_USER
    assert sorted(tokens(tmp_path)) == ["primary.db", "r1.db", "r2.db"]
    run_render(tmp_path, "tokens", migrates=False)  # the timer re-signs as on any database client
    with pytest.raises(subprocess.CalledProcessError):
        run_render(tmp_path, "migrate", migrates=False)
    assert not (tmp_path / "migrate.env").exists()
    asked = [call[call.index("--secret-id") + 1] for call in aws_calls(tmp_path) if "--secret-id" in call]
    assert DB_SECRET not in asked and asked  # it read the app's secrets and the cache token, never the master


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


FAKE_CURL = f"""#!{sys.executable}
import os, sys
args, state = sys.argv[1:], os.environ["FAKE_STATE"]
url = args[-1]
if "-X" in args:
    print("imds-token")
elif url.endswith("/meta-data/instance-id"):
    print("i-0123456789abcdef0")
elif url.startswith("http://localhost:"):
    # The app answers its readiness path from the third try on: the script must keep waiting until then.
    tries = os.path.join(state, "ready-tries")
    count = int(open(tries).read()) + 1 if os.path.exists(tries) else 1
    open(tries, "w").write(str(count))
    open(os.path.join(state, "ready-url"), "w").write(url)
    sys.exit(0 if count >= 3 else 7)
else:
    sys.exit(f"unexpected curl: {{args}}")
"""

FAKE_LIFECYCLE_AWS = f"""#!{sys.executable}
import json, os, sys
args, state = sys.argv[1:], os.environ["FAKE_STATE"]
with open(os.path.join(state, "aws-calls"), "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["autoscaling", "describe-auto-scaling-instances"]:
    assert args[args.index("--instance-ids") + 1] == "i-0123456789abcdef0"
    print("prod-web-asg-1a2b3c4\\t" + os.environ["FAKE_LIFECYCLE_STATE"])
elif args[:2] != ["autoscaling", "complete-lifecycle-action"]:
    sys.exit(f"unexpected aws call: {{args}}")
"""


def _launch_hook_script(user_data: str) -> str:
    start = user_data.index("<<'HOOK'\n") + len("<<'HOOK'\n")
    return user_data[start : user_data.index("\nHOOK\n", start)]


def _run_launch_hook(tmp_path: Path, script: str, lifecycle_state: str) -> list[list[str]]:
    """Run the completion script against stand-ins; the aws calls it made, in order."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in (("curl", FAKE_CURL), ("aws", FAKE_LIFECYCLE_AWS), ("sleep", "#!/bin/sh\n")):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_STATE": str(state),
        "FAKE_LIFECYCLE_STATE": lifecycle_state,
    }
    subprocess.run(["bash", "-c", script], env=environment, check=True, timeout=60)
    assert (state / "ready-tries").read_text() == "3"  # it waited for the app instead of completing early
    assert (state / "ready-url").read_text() == "http://localhost:8000/readyz"
    return [json.loads(line) for line in (state / "aws-calls").read_text().splitlines()]


def _user_data(plan: Plan, template: str) -> str:
    resource = next(r for r in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate") if r.name == template)
    return base64.b64decode(plain(resource.inputs)["userData"]).decode()


def test_warm_instance_completes_its_launch_hook_once_the_app_is_ready(
    planned: Planned, tmp_path: Path
) -> None:
    _, plan = planned("prod")  # prod's web group has a warm pool
    calls = _run_launch_hook(tmp_path, _launch_hook_script(_user_data(plan, "web-lt")), "Warmed:Pending:Wait")
    completion = calls[-1]
    assert completion[:2] == ["autoscaling", "complete-lifecycle-action"]
    options = dict(zip(completion[2::2], completion[3::2], strict=True))
    assert options == {
        "--lifecycle-hook-name": "scalestack-boot",
        "--auto-scaling-group-name": "prod-web-asg-1a2b3c4",
        "--instance-id": "i-0123456789abcdef0",
        "--lifecycle-action-result": "CONTINUE",
    }


def test_a_reboot_in_service_completes_no_hook(planned: Planned, tmp_path: Path) -> None:
    _, plan = planned("prod")
    calls = _run_launch_hook(tmp_path, _launch_hook_script(_user_data(plan, "web-lt")), "InService")
    assert [call[:2] for call in calls] == [["autoscaling", "describe-auto-scaling-instances"]]


def test_the_hook_runs_on_every_boot_and_only_with_a_warm_pool(planned: Planned) -> None:
    _, prod = planned("prod")
    web = _user_data(prod, "web-lt")
    # User data runs on the first boot only; a warm instance boots again when it leaves the pool.
    assert "WantedBy=multi-user.target" in web.split("scalestack-launch-hook.service <<'UNIT'")[1]
    assert "systemctl enable scalestack-launch-hook.service" in web
    subprocess.run(["bash", "-n"], input=web, text=True, check=True)
    _, dev = planned("dev")
    assert "complete-lifecycle-action" not in _user_data(dev, "web-lt")


def test_a_failed_lookup_fails_the_unit_instead_of_passing_silently(planned: Planned, tmp_path: Path) -> None:
    _, plan = planned("prod")
    script = _launch_hook_script(_user_data(plan, "web-lt")).replace(
        "aws autoscaling describe-auto-scaling-instances",
        "false && aws autoscaling describe-auto-scaling-instances",
    )
    with pytest.raises(subprocess.CalledProcessError):
        _run_launch_hook(tmp_path, script, "Pending:Wait")


def test_compacted_python_keeps_the_program_and_drops_the_prose() -> None:
    from infra.components.boot import compact, render

    source = 'X = "${v}"  # why\n"""What X is."""\n\n\nclass C:\n    """Only a docstring."""\n'
    assert compact(source) == "X = '${v}'\n\nclass C:\n    pass\n"
    publisher = render(
        "queue_metrics.py", namespace="n", metric_name="m", dimension="d", queues="q", env_file="e"
    )
    assert "#" not in publisher.replace("'#'", "") and '"""' not in publisher
    compile(publisher, "queue_metrics.py", "exec")
