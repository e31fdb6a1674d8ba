"""A team's own app: a fork of app_template/ in its own repository, outside the kit's tree, with its stack
file beside it, ships through `scalestack deploy` (the pipeline's fakes stand in for the engine and AWS)
with its own build context, smoke path, static assets and commit tag."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.spec import load_spec_file
from scripts.cli import cli
from scripts.deploy.app_source import KIT_APP, project_dir, resolve_app
from scripts.deploy.errors import DeployError
from scripts.deploy.pulumi_stack import REPO_ROOT
from scripts.exit_codes import ExitCode

from .fakes import FAST, OUTPUTS, World

FORK_STACK = """\
config:
  aws:region: us-east-1
  scalestack:environment: dev
  scalestack:imageTag: "0.1.0"
  scalestack:app:
    buildContext: ../../shop
    smokePath: /api/products
    staticDir: assets
"""


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """my-shop/ (its own git repository): shop/ is the forked app, deploy/ the Pulumi project and stacks."""
    repo = tmp_path_factory.mktemp("elsewhere") / "my-shop"
    assert not repo.is_relative_to(REPO_ROOT)
    shutil.copytree(KIT_APP, repo / "shop", ignore=shutil.ignore_patterns("tests", "__pycache__", ".venv"))
    (repo / "shop" / "assets").mkdir()
    (repo / "shop" / "assets" / "logo.svg").write_text("<svg/>")
    (repo / "deploy" / "stacks").mkdir(parents=True)
    (repo / "deploy" / "Pulumi.yaml").write_text(
        "name: scalestack\nruntime: python\nstackConfigDir: stacks\n"
    )
    (repo / "deploy" / "stacks" / "Pulumi.shop.yaml").write_text(FORK_STACK)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "fork of the scalestack app template")
    return repo


def _deploy(world: World, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, dict[str, object]]:
    import scripts.deploy.commands as commands

    monkeypatch.setattr(commands, "_ports", lambda *_: world.ports())
    monkeypatch.setattr(commands, "Timing", lambda: FAST)
    result = CliRunner().invoke(cli, ["deploy", *args, "--yes", "--json"])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def test_a_fork_outside_the_kit_ships_with_its_own_context_smoke_path_assets_and_commit(
    aws: str, fork: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    code, summary = _deploy(world, monkeypatch, "--stack-file", str(fork / "deploy/stacks/Pulumi.shop.yaml"))

    commit = _git(fork, "rev-parse", "HEAD")
    assert code == ExitCode.OK, summary
    assert summary["imageTag"] == commit[:12] != _git(REPO_ROOT, "rev-parse", "HEAD")[:12]
    assert world.engine.contexts == [fork / "shop"]
    [(_, (image, build_args, _labels))] = [e for e in world.journal if e[0] == "build"]
    assert image.endswith(f":{commit[:12]}") and build_args["GIT_COMMIT"] == commit
    assert f"{OUTPUTS['url']}/api/products" in world.http.requests
    assert not any(url.endswith("/api/tags") for url in world.http.requests)
    assert [key.split(".")[0] for key in world.cdn.bucket] == ["static/logo"]
    assert world.stack.config_tag == commit[:12]


def test_the_stack_file_belongs_to_the_forks_pulumi_project(fork: Path) -> None:
    spec = load_spec_file(fork / "deploy/stacks/Pulumi.shop.yaml")
    assert project_dir(spec) == fork / "deploy"
    assert project_dir(load_spec_file(REPO_ROOT / "stacks/Pulumi.dev.yaml")) == REPO_ROOT


def test_app_dir_overrides_the_stack_for_one_run(
    aws: str, fork: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    code, summary = _deploy(world, monkeypatch, "--stack", "dev", "--app-dir", str(fork / "shop"))
    assert code == ExitCode.OK, summary
    assert world.engine.contexts == [fork / "shop"]
    assert summary["imageTag"] == _git(fork, "rev-parse", "HEAD")[:12]


def test_shipped_stacks_build_the_kits_app_template() -> None:
    app = resolve_app(load_spec_file(REPO_ROOT / "stacks/Pulumi.dev.yaml"))
    assert (app.context, app.smoke_path, app.static_dir) == (KIT_APP, "/api/tags", KIT_APP / "app" / "static")


def test_a_build_context_without_a_dockerfile_is_refused_naming_the_key(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.shop.yaml"
    stack_file.write_text(FORK_STACK)
    with pytest.raises(DeployError) as raised:
        resolve_app(load_spec_file(stack_file))
    assert raised.value.code == ExitCode.USAGE
    assert raised.value.message == textwrap.dedent(
        f"""\
        {stack_file}: scalestack:app.buildContext: {(tmp_path / "../../shop").resolve()} is not a build context \
(no Dockerfile there); give the directory that holds the app's Dockerfile, absolute or relative to the stack file"""
    )
