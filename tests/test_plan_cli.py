"""`scalestack plan` as a user runs it: output, exit codes, and no traceback on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from click.testing import CliRunner

from infra.offline import PlanError, plan_stack
from infra.spec import load_stack_spec
from scripts.cli import cli
from scripts.exit_codes import ExitCode

RDS = "aws:rds/instance:Instance"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_prod_json_lists_the_topology_and_passes_the_policy() -> None:
    code, out, _ = run("plan", "--stack", "prod", "--format", "json")
    assert code == ExitCode.OK
    document = json.loads(out)
    assert set(document) == {"stack", "resources", "outputs", "reachability", "policy"}
    types = [r["type"] for r in document["resources"]]
    assert types.count("aws:lb/loadBalancer:LoadBalancer") == 1
    assert types.count("aws:autoscaling/group:Group") == 4  # web and tags; worker and reports
    assert types.count(RDS) == 3
    primary = next(r for r in document["resources"] if r["name"] == "database-primary")
    replicas = [r for r in document["resources"] if r["type"] == RDS and r is not primary]
    assert {r["inputs"]["replicateSourceDb"] for r in replicas} == {primary["inputs"]["identifier"]}
    assert document["policy"]["violations"] == [] and document["policy"]["rules"] >= 40
    cache = next(r for r in document["resources"] if r["type"].startswith("aws:elasticache/replicationGroup"))
    assert cache["inputs"]["authToken"] == "[secret]"  # secrets never reach the output


def test_text_plan_shows_components_counts_outputs_and_policy() -> None:
    code, out, _ = run("plan", "--stack", "dev")
    assert code == ExitCode.OK
    for expected in (
        "dev (dev, us-east-1)",
        "network",
        "scalestack:data:Database",
        "Resources by type",
        "Stack outputs",
        "Network reachability",
        "Policy:",
    ):
        assert expected in out


def test_stack_file_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.review-42.yaml"
    path.write_text(Path("stacks/Pulumi.dev.yaml").read_text())
    code, out, _ = run("plan", "--stack-file", str(path), "--format", "json")
    assert code == ExitCode.OK and json.loads(out)["stack"] == "review-42"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plan", "--stack", "nope"], ExitCode.INVALID_SPEC, "error: no stack 'nope'"),
        (
            ["plan", "--stack-file", "/nonexistent/Pulumi.x.yaml"],
            ExitCode.INVALID_SPEC,
            "cannot read the stack file",
        ),
        (["plan"], ExitCode.USAGE, "give exactly one of --stack NAME or --stack-file PATH"),
        (["plan", "--stack", "dev", "--stack-file", "x"], ExitCode.USAGE, "give exactly one of"),
        (
            ["plan", "--stack", "dev", "--format", "yaml"],
            ExitCode.USAGE,
            "'yaml' is not one of 'text', 'json'",
        ),
        (
            ["plan", "--stak", "dev"],
            ExitCode.USAGE,
            "No such option '--stak'. (Did you mean one of: '--stack'",
        ),
    ],
)
def test_bad_input_exits_with_its_code_and_a_clear_message(args: list[str], code: int, message: str) -> None:
    exit_code, _, err = run(*args)
    assert exit_code == code and message in err


def test_a_public_database_or_a_bad_waiver_is_refused(tmp_path: Path) -> None:
    base = Path("stacks/Pulumi.dev.yaml").read_text()
    public = tmp_path / "Pulumi.public.yaml"
    public.write_text(base + "  scalestack:database:\n    publiclyAccessible: true\n")
    code, _, err = run("plan", "--stack-file", str(public))
    assert code == ExitCode.INVALID_SPEC and "publiclyAccessible is refused" in err
    waiver = tmp_path / "Pulumi.waiver.yaml"
    waiver.write_text(
        base
        + "  scalestack:policy:\n    waivers:\n      - rule: no-such-rule\n        reason: because we said so\n"
    )
    code, _, err = run("plan", "--stack-file", str(waiver))
    assert code == ExitCode.INVALID_SPEC and "scalestack:policy.waivers" in err and "no-such-rule" in err


def test_a_waiver_for_an_aws_constraint_is_refused(tmp_path: Path) -> None:
    waiver = tmp_path / "Pulumi.waiver.yaml"
    waiver.write_text(
        Path("stacks/Pulumi.dev.yaml").read_text()
        + "  scalestack:policy:\n    waivers:\n      - rule: vpc-nat-after-internet-gateway\n"
        + "        reason: it worked last time\n"
    )
    code, _, err = run("plan", "--stack-file", str(waiver))
    assert code == ExitCode.INVALID_SPEC and "scalestack:policy.waivers" in err
    assert "vpc-nat-after-internet-gateway can't be waived" in err


def test_the_console_script_runs_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(
        "config:\n  aws:region: us-east-1\n  scalestack:environment: dev\n  scalestack:imageTag: '1'\n  scalestack:web: {minSize: 9}\n"
    )
    scalestack = Path(sys.executable).with_name("scalestack")
    done = subprocess.run(
        [str(scalestack), "plan", "--stack-file", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == ExitCode.INVALID_SPEC
    assert done.stderr.startswith(
        f"error: {bad}: scalestack:web: needs minSize <= desiredCapacity <= maxSize"
    )
    assert "Traceback" not in done.stderr


def test_duplicate_resource_names_fail_the_plan() -> None:
    def twice(_: object) -> dict[str, object]:
        first = aws.s3.Bucket("same")
        aws.s3.Bucket("same")
        return {"bucket": first.id}

    with pytest.raises(PlanError, match=r"duplicate resource names.*aws:s3/bucket:Bucket::same"):
        plan_stack(load_stack_spec("dev"), build=twice)


def test_the_plan_records_what_reaches_the_engine() -> None:
    def program(_: object) -> dict[str, object]:
        group = aws.ec2.SecurityGroup("group", description="d")
        aws.vpc.SecurityGroupIngressRule(
            "rule", security_group_id=group.id, ip_protocol="tcp", from_port=1, to_port=1
        )
        return {"group": group.id, "secret": pulumi.Output.secret("s3cr3t")}

    plan = plan_stack(load_stack_spec("dev"), build=program)
    rule = next(r for r in plan.resources if r.name == "rule")
    assert rule.inputs["fromPort"] == 1.0  # the engine's view: camelCase, numbers as floats
    assert rule.property_dependencies["securityGroupId"] == (
        plan.by_type("aws:ec2/securityGroup:SecurityGroup")[0].urn,
    )
    assert plan.outputs["group"] == "group-id"


def test_an_unexpected_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import scripts.cli as entry

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(entry.cli, "main", broken)
    monkeypatch.delenv("SCALESTACK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == ExitCode.FAILURE
    assert capsys.readouterr().err.startswith(
        "error: internal error (RuntimeError: boom); this is a bug in scalestack."
    )
    monkeypatch.setenv("SCALESTACK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        entry.main()


def test_a_program_that_cannot_be_planned_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.plan_cmd as plan_cmd

    def unplannable(*_: object) -> None:
        raise PlanError("the offline plan has no answer for provider function aws:ec2/getVpc:getVpc")

    monkeypatch.setattr(plan_cmd, "plan_stack", unplannable)
    code, _, err = run("plan", "--stack", "dev")
    assert code == ExitCode.FAILURE
    assert "error: the program for stack 'dev' cannot be planned: the offline plan has no answer" in err


def test_plans_of_a_stack_are_the_same() -> None:
    # Unsorted, dependency order varies between runs often enough that four plans rarely all agree.
    plans = [{r.urn: r for r in plan_stack(load_stack_spec("prod")).resources} for _ in range(4)]
    assert all(plan == plans[0] for plan in plans[1:])


def _prod_without_on_call(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.prod.yaml"
    text = Path("stacks/Pulumi.prod.yaml").read_text()
    assert "alarmEmail: oncall@example.com" in text
    path.write_text(text.replace("alarmEmail: oncall@example.com", "alarmEmail: null"))
    return path


def test_a_prod_stack_whose_alarms_reach_nobody_is_refused_with_the_key_to_set(tmp_path: Path) -> None:
    code, out, _ = run("plan", "--stack-file", str(_prod_without_on_call(tmp_path)), "--format", "json")
    assert code == ExitCode.POLICY_VIOLATION
    policy = json.loads(out)["policy"]
    assert {(v["rule"], v["level"]) for v in policy["violations"]} == {
        ("alarm-topic-subscribed", "mandatory")
    }
    assert all(v["fix"].startswith("set scalestack:monitoring.alarmEmail") for v in policy["violations"])
    assert policy["blocked"] and policy["verdict"].startswith("Plan refused for prod")


def test_a_refused_plan_ends_with_one_line_saying_so_uncut_in_a_pipe(tmp_path: Path) -> None:
    # CliRunner's stdout is not a terminal, like a CI log or a pipe.
    code, out, _ = run("plan", "--stack-file", str(_prod_without_on_call(tmp_path)))
    assert code == ExitCode.POLICY_VIOLATION
    last = out.rstrip("\n").splitlines()[-1]
    assert last.startswith("Plan refused for prod: ") and last.endswith("or write the waiver it names.")
    # The fix and the message stay whole on one row instead of wrapping at 80 columns.
    assert any("set scalestack:monitoring.alarmEmail, or waive it" in line for line in out.splitlines())
    assert max(len(line) for line in out.splitlines()) > 80
