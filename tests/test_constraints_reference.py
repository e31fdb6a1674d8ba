"""docs/aws-constraints.md is what the rules and spec checks say, and every AWS constraint is tested."""

from __future__ import annotations

from pathlib import Path

from infra.constraints import SPEC_CONSTRAINTS
from infra.constraints_reference import render
from infra.policies import RULES
from infra.policies.model import Category
from tests.policies.cases import COMPLIANT, VIOLATING

AWS_CONSTRAINTS = [r for r in RULES if r.category is Category.AWS]


def test_docs_aws_constraints_is_current() -> None:
    committed = Path(__file__).resolve().parent.parent / "docs" / "aws-constraints.md"
    assert committed.read_text() == render(), (
        "run: .venv/bin/python -m infra.constraints_reference > docs/aws-constraints.md"
    )


def test_the_document_lists_every_constraint_with_its_source() -> None:
    text = render()
    for rule in AWS_CONSTRAINTS:
        assert f"| `{rule.id}` | {rule.description} |" in text and f"<{rule.source}>" in text
    for check in SPEC_CONSTRAINTS:
        assert f"| `{check.id}` |" in text and f"<{check.source}>" in text
    assert (
        "| `AWS/ElastiCache` | `EngineCPUUtilization` | CacheClusterId; CacheClusterId + CacheNodeId |"
        in text
    )


def test_every_aws_constraint_cites_https_and_names_what_it_judges() -> None:
    assert len(AWS_CONSTRAINTS) >= 8
    for rule in AWS_CONSTRAINTS:
        assert rule.source.startswith("https://") and " " not in rule.source, rule.id
        assert rule.types, rule.id
    for check in SPEC_CONSTRAINTS:
        assert check.source.startswith("https://") and check.statement.endswith("."), check.id
    ids = [r.id for r in RULES] + [c.id for c in SPEC_CONSTRAINTS]
    assert len(ids) == len(set(ids))


def test_every_aws_constraint_has_a_violating_and_a_compliant_case() -> None:
    for rule in AWS_CONSTRAINTS:
        assert any(c.rule == rule.id for c in VIOLATING), rule.id
        assert any(c.rule == rule.id for c in COMPLIANT), rule.id
