"""A stack's name and its profile are separate (issue 14): `qa` on the staging profile plans offline and
deploys through the pipeline's fakes like the shipped stacks do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.spec import STACKS_DIR, load_spec_file
from scripts.cli import cli
from scripts.exit_codes import ExitCode

from .fakes import FAST, World


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    """The staging stack file, as a team would copy it for a stack of its own."""
    path = tmp_path / "stacks" / "Pulumi.qa.yaml"
    path.parent.mkdir()
    path.write_text((STACKS_DIR / "Pulumi.staging.yaml").read_text())
    return path


def test_qa_takes_the_staging_profile_and_its_own_names(qa: Path) -> None:
    spec = load_spec_file(qa)
    assert (spec.stack, spec.environment, spec.name_prefix) == ("qa", "staging", "scalestack-qa")


def test_qa_plans(qa: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--stack-file", str(qa), "--format", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    plan = json.loads(result.output)
    names = json.dumps(plan["resources"])
    assert "scalestack-qa" in names and "scalestack-staging" not in names


def test_qa_deploys(aws: str, qa: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.deploy.commands as commands

    world = World()
    monkeypatch.setattr(commands, "_ports", lambda *_: world.ports())
    monkeypatch.setattr(commands, "Timing", lambda: FAST)
    result = CliRunner().invoke(
        cli, ["deploy", "--stack-file", str(qa), "--image-tag", "v2", "--yes", "--json"]
    )
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == ExitCode.OK, summary
    assert (summary["stack"], summary["imageTag"]) == ("qa", "v2")
    assert world.versions("web-asg")[1] == "4" and world.stack.config_tag == "v2"


def test_the_policy_pack_judges_a_stack_file_outside_the_kit_by_its_own_profile(qa: Path) -> None:
    """`scalestack up|deploy` name the stack file to the pack (SCALESTACK_STACK_FILE): `qa` is not in the
    kit's stacks/, and its levels are staging's."""
    from infra.policies.pack import STACK_FILE_VARIABLE, STACK_VARIABLE, select

    selection = select({STACK_VARIABLE: "qa", STACK_FILE_VARIABLE: str(qa)})
    assert selection.environment == "staging" and selection.source == f"stack qa ({qa})"
