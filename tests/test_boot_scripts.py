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

from infra.components.app_settings import render_script
from infra.planned import Plan
from infra.policies.values import plain
from infra.spec import StackSpec

Planned = Callable[[str], tuple[StackSpec, Plan]]
DB_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db"
CACHE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth"
PASSWORD = "p@ss:w/rd%"
TOKEN = "tok+en/="

FAKE_AWS = f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
if args[:2] == ["ssm", "get-parameters-by-path"]:
    path = args[args.index("--path") + 1]
    values = {{"DATABASE_HOST": "primary.db", "DATABASE_REPLICA_HOSTS": "r1.db,r2.db", "DATABASE_NAME": "app",
               "REDIS_HOST": "master.cache", "PORT": "8000", "FEATURE_FLAG": "on"}}
    print(json.dumps({{"Parameters": [{{"Name": f"{{path}}/{{k}}", "Value": v}} for k, v in values.items()]}}))
elif args[:2] == ["secretsmanager", "get-secret-value"]:
    arn = args[args.index("--secret-id") + 1]
    secret = json.dumps({{"username": "app_admin", "password": {PASSWORD!r}}}) if arn == {DB_SECRET!r} else {TOKEN!r}
    print(json.dumps({{"SecretString": secret}}))
else:
    sys.exit(f"unexpected aws call: {{args}}")
"""


def render(tmp_path: Path, replicas: str = "r1.db,r2.db") -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS.replace('"r1.db,r2.db"', json.dumps(replicas)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    # A plain interpreter: a version manager's shim would put its own directory (and a real aws) first.
    (bin_dir / "python3").symlink_to(sys.executable)
    env_file = tmp_path / "app.env"
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SCALESTACK_ENV_FILE": str(env_file),
    }
    script = render_script("/scalestack/dev/app", DB_SECRET, CACHE_SECRET)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=environment, check=True, timeout=60)
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"  # credentials: readable by root only
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines())


def test_render_composes_urls_from_parameters_and_secrets(tmp_path: Path) -> None:
    env = render(tmp_path)
    primary = urllib.parse.urlsplit(env["DATABASE_URL"])
    assert (primary.scheme, primary.hostname, primary.port, primary.path) == (
        "postgresql+asyncpg",
        "primary.db",
        5432,
        "/app",
    )
    assert urllib.parse.unquote(primary.password or "") == PASSWORD and primary.query == "ssl=require"
    replicas = [urllib.parse.urlsplit(u).hostname for u in env["DATABASE_REPLICA_URLS"].split(",")]
    assert replicas == ["r1.db", "r2.db"]
    cache = urllib.parse.urlsplit(env["REDIS_URL"])
    assert (cache.scheme, cache.hostname, cache.port) == ("rediss", "master.cache", 6379)
    assert urllib.parse.unquote(cache.password or "") == TOKEN and cache.query == "ssl_cert_reqs=required"
    assert env["FEATURE_FLAG"] == "on" and env["PORT"] == "8000"


def test_no_replicas_means_an_empty_replica_list(tmp_path: Path) -> None:
    assert render(tmp_path, replicas="-")["DATABASE_REPLICA_URLS"] == ""


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
