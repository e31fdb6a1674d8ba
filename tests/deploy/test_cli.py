"""The commands' boundary: bad input gets a clear message and its exit code, no traceback, nothing changed.
Tests that need a real Docker engine or pulumi CLI run when one is on the machine and skip otherwise."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import cli
from scripts.deploy.docker_engine import DockerEngine
from scripts.deploy.errors import DeployError
from scripts.deploy.pulumi_stack import PulumiStack
from scripts.deploy.source import Revision, check_tag
from scripts.exit_codes import COMMAND_CODES, ExitCode

STACK_FILE = Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.dev.yaml"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, output


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_help_documents_every_step_and_exit_code() -> None:
    code, output = invoke("deploy", "--help")
    assert code == 0
    for step in ("preflight", "build", "push", "migrate", "update", "rollout", "smoke", "static"):
        assert f"  {step} " in output
    for exit_code in COMMAND_CODES["deploy"]:
        if exit_code not in {ExitCode.FAILURE, ExitCode.POLICY_VIOLATION}:
            assert f"{int(exit_code):>5}  " in output, exit_code.name


def test_unknown_stack() -> None:
    code, output = invoke("deploy", "--stack", "nope", "--yes")
    assert code == ExitCode.INVALID_SPEC
    assert "Pulumi.nope.yaml" in output


@pytest.mark.parametrize("tag", ["-bad", "has space", "x" * 129, "tag/with/slash"])
def test_malformed_tag(tag: str) -> None:
    before = STACK_FILE.read_text()
    code, output = invoke("deploy", "--stack", "dev", "--image-tag", tag, "--yes", "--json")
    assert code == ExitCode.USAGE
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["exitCode"] == ExitCode.USAGE and "is not a valid image tag" in summary["account"]
    assert "is not a valid image tag" in summary["message"]  # issue 14: the error in a field of its own
    assert STACK_FILE.read_text() == before


def test_missing_credentials(aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, output = invoke("status", "--stack", "dev")

    assert code == ExitCode.MISSING_CREDENTIALS
    assert "no AWS credentials" in output and "AWS_PROFILE" in output


def test_needs_yes_when_nobody_can_answer(aws: str) -> None:
    code, output = invoke("deploy", "--stack", "dev", "--json")
    assert code == ExitCode.USAGE and "--yes" in output


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="the pulumi CLI is installed here")
def test_pulumi_cli_missing_is_engine_unreachable(aws: str) -> None:
    before = STACK_FILE.read_text()
    code, output = invoke("deploy", "--stack", "dev", "--yes", "--image-tag", "v2")
    assert code == ExitCode.ENGINE_UNREACHABLE
    assert "pulumi CLI is not on PATH" in output
    assert STACK_FILE.read_text() == before


def test_docker_engine_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    with pytest.raises(DeployError) as failure:
        DockerEngine().ping()
    assert failure.value.code == ExitCode.ENGINE_UNREACHABLE
    assert "DOCKER_HOST" in failure.value.message


def test_tags() -> None:
    assert check_tag("v1.4.2_rc-1") == "v1.4.2_rc-1"
    assert Revision("0123456789abcdef", dirty=False).default_tag() == "0123456789ab"
    assert Revision("0123456789abcdef", dirty=True).default_tag().startswith("0123456789ab-dirty-")
    with pytest.raises(DeployError):
        Revision("unknown", dirty=False).default_tag()


def _docker_reachable() -> bool:
    try:
        DockerEngine().ping()
    except DeployError:
        return False
    return True


@pytest.mark.skipif(not _docker_reachable(), reason="no Docker engine on this machine (local or DOCKER_HOST)")
def test_real_engine_builds_with_labels(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nARG IMAGE_TAG\nLABEL tag=$IMAGE_TAG\nCOPY f /f\n")
    (tmp_path / "f").write_text("x")
    lines: list[str] = []
    image_id = DockerEngine().build(
        tmp_path,
        "scalestack-test:t1",
        {"IMAGE_TAG": "t1"},
        {"org.opencontainers.image.revision": "abc"},
        "linux/amd64",
        lines.append,
    )
    assert image_id.startswith("sha256:") and lines


@pytest.mark.skipif(shutil.which("pulumi") is None, reason="no pulumi CLI on this machine")
def test_real_pulumi_sets_the_tag_and_reads_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: tagtest\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent("""
        import pulumi
        pulumi.export("imageTag", pulumi.Config("scalestack").require("imageTag"))
    """)
    )
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["pulumi", "stack", "init", "dev"], cwd=tmp_path, check=True)  # the kit never creates one
    stack = PulumiStack("dev", repo_root=tmp_path)
    stack.set_image_tag("t2")
    lines: list[str] = []
    stack.up(lines.append)
    assert stack.outputs()["imageTag"] == "t2" and stack.image_tag() == "t2"


def test_docker_engine_passes_the_platform_to_the_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Docker SDK's APIClient.build takes `platform`; an x86 runner must build arm64 images when asked."""

    class _Api:
        def __init__(self) -> None:
            self.builds: list[dict[str, object]] = []

        def build(self, **kwargs: object) -> list[dict[str, object]]:
            self.builds.append(kwargs)
            return [{"stream": "Step 1/1 : FROM scratch\n"}, {"aux": {"ID": "sha256:arm"}}]

    api = _Api()
    monkeypatch.setattr("docker.from_env", lambda: type("Client", (), {"api": api})())
    image_id = DockerEngine().build(tmp_path, "repo:t1", {}, {}, "linux/arm64", lambda _line: None)
    assert image_id == "sha256:arm" and api.builds[0]["platform"] == "linux/arm64"


def test_a_key_error_inside_a_deploy_step_is_reported_as_a_bug_and_not_rolled_back(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyError in the rollout step (here from the fleet port) is a defect in scalestack: the command says
    so in its one-line summary and exits 1; the stack keeps the new tag, no refresh is rolled back."""
    import scripts.deploy.commands as commands

    from .fakes import FAST, World

    world = World()

    def broken(target_group_arn: str) -> list[object]:
        raise KeyError("TargetHealthDescriptions")

    monkeypatch.setattr(world.fleet, "target_health", broken)
    monkeypatch.setattr(commands, "_ports", lambda *_: world.ports())
    monkeypatch.setattr(commands, "Timing", lambda: FAST)
    monkeypatch.delenv("SCALESTACK_DEBUG", raising=False)

    code, output = invoke("deploy", "--stack", "dev", "--image-tag", "v2", "--yes", "--json")

    assert code == ExitCode.FAILURE
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["exitCode"] == ExitCode.FAILURE and summary["result"] == "failed"
    assert summary["account"].startswith(
        "internal error (KeyError: 'TargetHealthDescriptions'); this is a bug in scalestack."
    )
    assert "refresh.rollback" not in world.journal.names() and world.stack.config_tag == "v2"
