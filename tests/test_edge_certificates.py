"""Defect 3: CloudFront forwards the viewer's Host to the HTTPS origin, so the ALB's certificate must name
the public host as well as the origin name, each validated by its own DNS record."""

from __future__ import annotations

import pytest

from infra.planned import Plan, PlannedResource
from infra.policies import evaluate
from infra.policies.values import plain
from tests.conftest import plan_of


def _one(plan: Plan, name: str) -> PlannedResource:
    return next(r for r in plan.resources if r.name == name)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_origin_certificate_names_the_public_host(stack: str) -> None:
    spec, plan = plan_of(stack)
    assert spec.domain is not None
    certificate = plain(_one(plan, "domain-origin-cert").inputs)
    names = [certificate["domainName"], *certificate.get("subjectAlternativeNames", [])]
    assert names == [f"origin.{spec.domain.name}", spec.domain.name]
    distribution = plain(plan.by_type("aws:cloudfront/distribution:Distribution")[0].inputs)
    assert set(distribution["aliases"]) <= set(names)
    # Each name is validated: one DNS record per name, all awaited before the listener gets the certificate.
    validation = plain(_one(plan, "domain-origin-validated").inputs)
    assert sorted(validation["validationRecordFqdns"]) == sorted(f"_validation.{n}" for n in names)
    report = evaluate(plan.resources, spec.environment)
    assert "cloudfront-origin-certificate-covers-host" not in {v.rule for v in report.violations}


def test_the_cdn_certificate_is_unchanged() -> None:
    spec, plan = plan_of("prod")
    assert spec.domain is not None
    certificate = plain(_one(plan, "domain-cdn-cert").inputs)
    assert certificate["domainName"] == spec.domain.name and "subjectAlternativeNames" not in certificate
