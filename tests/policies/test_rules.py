"""Every rule fails on a resource that breaks it and passes one that doesn't, through both adapters."""

from __future__ import annotations

import re

import pytest

from infra.policies import RULE_IDS, RULES, evaluate

from .cases import COMPLIANT, VIOLATING, Case
from .fixtures import baseline, urn
from .helpers import crossguard_hits, offline_hits


def test_every_rule_has_a_violating_case() -> None:
    assert RULE_IDS - {c.rule for c in VIOLATING} == set()
    assert {c.rule for c in VIOLATING + COMPLIANT} <= RULE_IDS


def test_rule_catalogue_is_well_formed() -> None:
    assert len(RULES) >= 40
    assert len(RULE_IDS) == len(RULES)
    for rule in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.id), rule.id
        assert rule.description.endswith(".") and "\n" not in rule.description, rule.id


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_baseline_passes_every_rule(environment: str) -> None:
    planned = baseline().planned()
    assert offline_hits(planned, environment) == set()
    assert crossguard_hits(planned, environment) == set()


@pytest.mark.parametrize("case", VIOLATING, ids=lambda c: c.id)
def test_rule_catches_violation(case: Case) -> None:
    stack = baseline()
    case.mutate(stack)
    planned = stack.planned()
    target = next(r.urn for r in planned if r.name == case.resource)

    hits = offline_hits(planned)
    assert {rule for rule, _ in hits} == {case.rule} | case.also
    assert (case.rule, target) in hits
    # The CrossGuard adapter must see exactly what `scalestack plan` sees.
    assert crossguard_hits(planned) == hits


@pytest.mark.parametrize("case", COMPLIANT, ids=lambda c: c.id)
def test_rule_passes_compliant_variant(case: Case) -> None:
    stack = baseline()
    case.mutate(stack)
    planned = stack.planned()
    assert case.rule not in {rule for rule, _ in offline_hits(planned)}
    assert case.rule not in {rule for rule, _ in crossguard_hits(planned)}


def test_messages_say_what_and_why_in_one_sentence() -> None:
    for case in VIOLATING:
        stack = baseline()
        case.mutate(stack)
        report = evaluate(stack.planned(), "prod")
        for violation in report.violations:
            assert violation.message.endswith("."), violation
            assert "\n" not in violation.message
            assert any(word in violation.message for word in (" so ", "which", "because", "widening")), (
                violation
            )


def test_world_ssh_is_refused_in_every_environment() -> None:
    stack = baseline()
    stack.add(
        "ssh",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {
            "securityGroupId": "sg",
            "ipProtocol": "tcp",
            "fromPort": 22.0,
            "toPort": 22.0,
            "cidrIpv4": "0.0.0.0/0",
        },
        securityGroupId=["app-sg"],
    )
    for environment in ("dev", "staging", "prod"):
        report = evaluate(stack.planned(), environment)
        assert report.blocked
        assert [v.resource for v in report.mandatory if v.rule == "sg-no-world-ingress"] == ["ssh"]
        assert urn("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ssh") in {
            v.urn for v in report.violations
        }
