"""The report `scalestack plan` prints and the levels CrossGuard enforces: per environment, with waivers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from pulumi_policy import ResourceValidationArgs

from infra.planned import PlannedResource
from infra.policies import RULES, UnknownRuleError, evaluate
from infra.policies.crossguard import describe, pulumi_config, to_policies
from infra.policies.model import AWS_REQUIRED, STACK_NAMESPACE, Category
from infra.policies.pack import PackConfigError, select
from infra.spec import NAMESPACE
from scripts.exit_codes import ExitCode
from scripts.policy_cmd import policy

from .fixtures import baseline
from .helpers import _policy_resources


@dataclass(frozen=True)
class W:
    rule: str
    reason: str


def _public_db_and_no_final_snapshot() -> list[PlannedResource]:
    stack = baseline().set("db", "publiclyAccessible", True).set("db", "skipFinalSnapshot", True)
    stack.set("alb", "dropInvalidHeaderFields", False)
    return stack.planned()


def test_levels_follow_the_environment() -> None:
    planned = _public_db_and_no_final_snapshot()
    levels = {
        env: {v.rule: v.level for v in evaluate(planned, env).violations}
        for env in ("dev", "staging", "prod")
    }
    # Public database: mandatory everywhere. Standard rule: advisory in dev. Prod-only rule: off in dev.
    assert levels["dev"] == {"rds-no-public-access": "mandatory", "alb-drop-invalid-headers": "advisory"}
    assert levels["staging"] == {
        "rds-no-public-access": "mandatory",
        "alb-drop-invalid-headers": "mandatory",
        "rds-final-snapshot": "advisory",
    }
    assert set(levels["prod"].values()) == {"mandatory"} and len(levels["prod"]) == 3


def test_report_json_has_exactly_the_contract_keys() -> None:
    report = evaluate(_public_db_and_no_final_snapshot(), "prod")
    document = report.to_json()
    assert set(document) == {"rules", "violations", "blocked", "verdict"}
    assert document["rules"] == len(RULES)
    assert all(set(v) == {"rule", "resource", "message", "level", "fix"} for v in document["violations"])
    assert {v["resource"] for v in document["violations"]} == {"db", "alb"}
    json.dumps(document)
    assert report.blocked
    assert not evaluate(baseline().planned(), "prod").blocked


def test_waived_rule_reports_nothing_and_is_listed_with_its_reason() -> None:
    planned = _public_db_and_no_final_snapshot()
    report = evaluate(planned, "prod", [W("rds-final-snapshot", "scratch database, recreated nightly")])
    assert "rds-final-snapshot" not in {v.rule for v in report.violations}
    assert [(w.rule, w.reason) for w in report.waived] == [
        ("rds-final-snapshot", "scratch database, recreated nightly")
    ]
    assert report.rules == len(RULES) - 1


def test_advisory_only_violations_do_not_block() -> None:
    stack = baseline().set("alb", "dropInvalidHeaderFields", False)
    report = evaluate(stack.planned(), "dev")
    assert [v.level for v in report.violations] == ["advisory"]
    assert not report.blocked


def test_waiver_for_unknown_rule_is_an_error_not_a_silent_pass() -> None:
    with pytest.raises(UnknownRuleError, match="rds-no-publc-access"):
        evaluate(baseline().planned(), "prod", [W("rds-no-publc-access", "typo in the rule id")])
    with pytest.raises(UnknownRuleError):
        to_policies("prod", {"no-such-rule": "x"})


def test_crossguard_levels_and_pulumi_config_match_the_rules() -> None:
    for environment in ("dev", "staging", "prod"):
        policies = {
            p.name: p.enforcement_level.value for p in to_policies(environment) if p.enforcement_level
        }
        assert policies == {r.id: r.enforcement.level(environment).value for r in RULES}
    config = pulumi_config("prod", {"cloudfront-waf": "internal tool behind VPN"})
    assert config["cloudfront-waf"] == {"enforcementLevel": "disabled"}
    assert config["rds-no-public-access"] == {"enforcementLevel": "mandatory"}


def test_pack_selects_levels_from_its_environment() -> None:
    assert select({}).environment == "prod"
    assert select({"SCALESTACK_ENVIRONMENT": "dev"}).environment == "dev"
    assert select({"SCALESTACK_STACK": "staging"}).environment == "staging"
    with pytest.raises(PackConfigError, match="SCALESTACK_ENVIRONMENT"):
        select({"SCALESTACK_ENVIRONMENT": "qa"})
    with pytest.raises(PackConfigError, match="no stack 'nope'"):
        select({"SCALESTACK_STACK": "nope"})


def test_pack_entry_point_builds_the_pack_from_the_shared_rules() -> None:
    source = (Path(__file__).resolve().parents[2] / "policy_pack" / "__main__.py").read_text()
    assert "PolicyPack(" in source and "select(os.environ)" in source and "selection.policies()" in source


def test_policy_list_cli() -> None:
    runner = CliRunner()
    listed = runner.invoke(policy, ["--list", "--format", "json"])
    assert listed.exit_code == ExitCode.OK
    rows = json.loads(listed.output)["rules"]
    assert len(rows) == len(RULES) >= 40
    assert rows[0]["levels"].keys() == {"dev", "staging", "prod"}

    per_stack = runner.invoke(policy, ["--list", "--stack", "prod", "--format", "json"])
    assert per_stack.exit_code == ExitCode.OK
    assert json.loads(per_stack.output)["environment"] == "prod"

    text = runner.invoke(policy, ["--list"])
    assert text.exit_code == ExitCode.OK and "rds-no-public-access" in text.output


def test_policy_list_shows_aws_constraints_as_their_own_block() -> None:
    listed = CliRunner().invoke(policy, ["--list", "--format", "json"])
    rows = json.loads(listed.output)["rules"]
    categories = [row["category"] for row in rows]
    first_constraint = categories.index(Category.AWS.value)
    assert set(categories[:first_constraint]) == {Category.SECURITY.value}
    assert set(categories[first_constraint:]) == {Category.AWS.value}
    constraints = [row for row in rows if row["category"] == Category.AWS.value]
    assert all(row["source"].startswith("https://") for row in constraints)
    assert all(set(row["levels"].values()) == {"mandatory"} for row in constraints)

    text = CliRunner().invoke(policy, ["--list"]).output
    assert "aws-constraint" in text and "alb-slow-start-round-robin-only" in text


def test_crossguard_description_names_the_constraint_and_its_source() -> None:
    rule = next(r for r in RULES if r.id == "alb-slow-start-round-robin-only")
    policy_description = describe(rule)
    assert policy_description.startswith("[aws-constraint] ") and rule.source in policy_description
    guardrail = next(r for r in RULES if r.id == "rds-no-public-access")
    assert describe(guardrail) == guardrail.description


def test_every_aws_constraint_is_mandatory_everywhere_and_cites_its_source() -> None:
    constraints = [r for r in RULES if r.category is Category.AWS]
    assert len(constraints) >= 8
    for rule in constraints:
        assert rule.enforcement == AWS_REQUIRED, rule.id
        assert rule.source.startswith("https://") and " " not in rule.source, rule.id


def test_an_aws_constraint_cannot_be_waived() -> None:
    with pytest.raises(UnknownRuleError, match="can't be waived"):
        evaluate(baseline().planned(), "dev", [W("alb-slow-start-round-robin-only", "we know")])


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--stack", "nope"], ExitCode.INVALID_SPEC, "no stack 'nope'"),
        (["--format", "xml"], ExitCode.USAGE, "'xml' is not one of"),
        (["--pulumi-config"], ExitCode.USAGE, "needs --stack"),
    ],
)
def test_policy_cli_errors_are_clear(args: list[str], code: int, says: str) -> None:
    result = CliRunner().invoke(policy, args)
    assert result.exit_code == code
    assert says in result.output


def test_security_md_names_every_rule() -> None:
    # AWS constraints are listed in docs/aws-constraints.md, generated from the rules themselves.
    text = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text()
    guardrails = [r for r in RULES if r.category is Category.SECURITY]
    assert [r.id for r in guardrails if f"`{r.id}`" not in text] == []


def test_a_violation_names_the_stack_key_that_fixes_it_or_the_waiver() -> None:
    fixes = {v.rule: v.fix for v in evaluate(_public_db_and_no_final_snapshot(), "prod").violations}
    # The stack file has no skipFinalSnapshot: deletionProtection is the key that brings the snapshot back.
    assert fixes["rds-final-snapshot"].startswith("set scalestack:database.deletionProtection,")
    assert "skipFinalSnapshot" not in fixes["rds-final-snapshot"]
    # No stack key turns the ALB's header dropping off: the waiver is what a user can write.
    assert fixes["alb-drop-invalid-headers"] == (
        "waive it: scalestack:policy.waivers [{rule: alb-drop-invalid-headers, reason: ...}]"
    )


def test_an_aws_constraint_offers_no_waiver() -> None:
    stack = baseline().set("web-tg", "loadBalancingAlgorithmType", "least_outstanding_requests")
    stack.set("web-tg", "slowStart", 30.0)
    [violation] = evaluate(stack.planned(), "prod").violations
    assert violation.rule == "alb-slow-start-round-robin-only" and "waive" not in violation.fix


def test_the_verdict_says_refused_and_which_rules() -> None:
    report = evaluate(_public_db_and_no_final_snapshot(), "prod")
    assert report.verdict() == (
        "Plan refused for prod: 3 mandatory violation(s) of alb-drop-invalid-headers, rds-final-snapshot, "
        "rds-no-public-access; change the stack as each fix says, or write the waiver it names."
    )
    assert evaluate(baseline().planned(), "prod").verdict().startswith("Plan accepted for prod")


def test_crossguard_messages_end_with_the_fix() -> None:
    stack = baseline().set("db", "skipFinalSnapshot", True)
    policy = next(p for p in to_policies("prod") if p.name == "rds-final-snapshot")
    reported: list[str] = []
    for r in _policy_resources(stack.planned()):
        if r.name == "db":
            args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None)
            policy.validate(args, lambda message, urn: reported.append(message))  # type: ignore[union-attr]
    assert len(reported) == 1 and reported[0].endswith(
        "Fix: set scalestack:database.deletionProtection, "
        "or waive it: scalestack:policy.waivers "
        "[{rule: rds-final-snapshot, reason: ...}]."
    )


def test_the_stack_namespace_is_the_specs() -> None:
    assert STACK_NAMESPACE == NAMESPACE
