"""One backend story: the kit uses the backend the user's `pulumi` CLI uses, and never creates a stack.

The CLI is the stand-in of fake_pulumi.py on PATH (it models backend choice, stack selection and whoami as
the CLI documents them); the Automation API above it is the real one.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.deploy.errors import DeployError
from scripts.deploy.pulumi_stack import PulumiStack
from scripts.exit_codes import ExitCode

LOGGED_IN = "file:///home/alice/.pulumi-state-of-login"
FAKE = Path(__file__).with_name("fake_pulumi.py")


class Cli:
    def __init__(self, root: Path) -> None:
        self.root, self.log, self.backends = root, root / "calls.jsonl", root / "backends.json"

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stacks(self) -> dict[str, dict[str, Any]]:
        return dict(json.loads(self.backends.read_text()))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`pulumi` on PATH, logged in (`pulumi login`) to LOGGED_IN, which holds stack dev with one output."""
    bin_dir, home = tmp_path / "bin", tmp_path / "pulumi-home"
    bin_dir.mkdir()
    home.mkdir()
    executable = bin_dir / "pulumi"
    executable.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    (home / "credentials.json").write_text(json.dumps({"current": LOGGED_IN}))
    fake = Cli(tmp_path)
    fake.backends.write_text(json.dumps({LOGGED_IN: {"dev": {"url": "https://d1.example"}}}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", str(home))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_PULUMI_BACKENDS", str(fake.backends))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "Pulumi.yaml").write_text(
        "name: scalestack\nruntime: python\nstackConfigDir: stacks\n"
    )
    return fake


def test_the_stack_pulumi_login_holds_is_the_one_deployed(cli: Cli) -> None:
    outputs = PulumiStack("dev", repo_root=cli.root / "repo").outputs()

    assert outputs == {"url": "https://d1.example"}
    assert {call["backend"] for call in cli.calls() if call["args"] != ["version"]} == {LOGGED_IN}
    assert not (cli.root / "repo" / ".pulumi-state").exists()


def test_a_stack_missing_from_the_backend_is_not_created(cli: Cli) -> None:
    with pytest.raises(DeployError) as raised:
        PulumiStack("staging", repo_root=cli.root / "repo").outputs()

    message = raised.value.message
    assert raised.value.code == ExitCode.USAGE and "\n" not in message
    assert f"stack staging does not exist in the Pulumi backend {LOGGED_IN} (logged in as alice)" in message
    assert "`pulumi up -s staging`" in message
    assert not any(call["args"][:2] == ["stack", "init"] for call in cli.calls())
    assert cli.stacks() == {LOGGED_IN: {"dev": {"url": "https://d1.example"}}}


def test_pulumi_backend_url_when_set_wins(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    ci_backend = "s3://ci-state-bucket"
    cli.backends.write_text(json.dumps({**cli.stacks(), ci_backend: {"dev": {"url": "https://ci"}}}))
    monkeypatch.setenv("PULUMI_BACKEND_URL", ci_backend)

    assert PulumiStack("dev", repo_root=cli.root / "repo").outputs() == {"url": "https://ci"}
    assert {call["backend"] for call in cli.calls() if call["args"] != ["version"]} == {ci_backend}
