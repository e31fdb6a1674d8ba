"""The facts the program and the deploy pipeline share have one home, infra/contract.py, and agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.contract import ENVIRONMENTS, REQUIRED_OUTPUTS, MissingOutputs, Output, StackOutputs
from infra.profiles import PROFILES
from scripts.exit_codes import ExitCode, exit_codes_help
from tests.conftest import SHIPPED_STACKS, plan_of


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_shipped_stack_exports_exactly_the_contracts_outputs_and_they_parse(stack: str) -> None:
    spec, plan = plan_of(stack)
    assert set(plan.outputs) == set(Output)
    outputs = StackOutputs.parse(plan.outputs)
    names = {service.name for service in spec.all_services}
    assert outputs.asg_names.keys() == outputs.launch_templates.keys() == names >= {"web", "worker"}
    for service in spec.all_services:
        role, group = service.name, service.spec
        assert outputs.rollout.roles[role].instance_warmup_seconds == group.health_check_grace_period_seconds
        assert outputs.rollout.roles[role].min_healthy_percentage == group.min_healthy_percent
    assert outputs.region == spec.region


def test_a_stack_missing_a_required_output_names_it() -> None:
    _, plan = plan_of("dev")
    partial = {k: v for k, v in plan.outputs.items() if k not in (Output.ROLLOUT, Output.WEB_ASG_NAME)}
    with pytest.raises(MissingOutputs) as raised:
        StackOutputs.parse(partial)
    assert raised.value.names == ("webAsgName", "rollout")
    assert set(raised.value.names) <= set(REQUIRED_OUTPUTS)


def test_every_environment_has_a_profile() -> None:
    assert tuple(PROFILES) == ENVIRONMENTS


def test_loading_the_spec_does_not_load_the_aws_sdk() -> None:
    """`import infra.spec` runs on every CLI call; pulumi_aws alone takes a third of a second to import."""
    probe = "import sys, infra.spec; print('pulumi_aws' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_exit_code_help_lists_each_code_once_with_its_own_description() -> None:
    text = exit_codes_help([ExitCode.INVALID_SPEC, ExitCode.OK, ExitCode.INVALID_SPEC])
    assert text.splitlines()[1:] == [
        "Exit codes:",
        "    0  success",
        "    3  the stack file is missing, unreadable or fails validation",
    ]
    assert ExitCode.USAGE == 2 and f"{ExitCode.POLICY_VIOLATION:>3}" == "  4"


def test_the_deploy_side_names_outputs_only_through_the_contract() -> None:
    """Each output name has one home (infra/contract.py): no script indexes outputs by a string literal."""
    names = "|".join(re.escape(o.value) for o in Output)
    # Outputs reach the scripts as `outputs`, `deployed` or a StackOutputs' `raw` mapping.
    literal = re.compile(rf"""(outputs|deployed|raw)(\[|\.get\()\s*["']({names})["']""")
    found = [
        f"{path}:{n}: {line.strip()}"
        for path in sorted(Path("scripts").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if literal.search(line)
    ]
    assert found == []
