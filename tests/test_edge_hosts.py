"""Host-routed services reach their load balancer rule through CloudFront: each host a web service routes
on is an alias of the distribution, a name on the viewer and origin certificates (each validated by one DNS
record, a wildcard by its base name's), and an A/AAAA alias record in the hosted zone. Hosts the edge
cannot serve (no domain, outside it, a wildcard CloudFront, ACM or Route 53 refuses) are refused by the spec.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import pytest

from infra import hosts
from infra.offline import plan_stack
from infra.planned import Plan, PlannedResource
from infra.policies import evaluate
from infra.policies.values import plain
from infra.spec import StackSpec, parse_config
from tests.test_services import five
from tests.test_spec import SOURCE, config, error_for

DOMAIN = "app.example.com"
HOSTED: dict[str, Any] = {
    "admin": {
        "kind": "web",
        "hostNames": ["admin.app.example.com"],
        "pathPatterns": ["/admin/*"],
        "livenessPath": "/admin/healthz",
    },
    # A tenant site: its apex and one label of subdomains, one validation record for both.
    "tenants": {"kind": "web", "hostNames": ["tenants.app.example.com", "*.tenants.app.example.com"]},
}
RECORD = "aws:route53/record:Record"


@cache
def planned() -> tuple[StackSpec, Plan]:
    spec = parse_config(five(services=HOSTED), stack="hosts", source=SOURCE)
    return spec, plan_stack(spec)


def _inputs(plan: Plan, name: str) -> dict[str, Any]:
    return plain(next(r for r in plan.resources if r.name == name).inputs)  # type: ignore[no-any-return]


def _names(certificate: dict[str, Any]) -> list[str]:
    return [certificate["domainName"], *certificate.get("subjectAlternativeNames", [])]


ROUTED = ["admin.app.example.com", "tenants.app.example.com", "*.tenants.app.example.com"]


def test_every_routed_host_is_a_cloudfront_alias() -> None:
    _, plan = planned()
    distribution = plain(plan.by_type("aws:cloudfront/distribution:Distribution")[0].inputs)
    assert sorted(distribution["aliases"]) == sorted([DOMAIN, *ROUTED])
    assert distribution["viewerCertificate"]["sslSupportMethod"] == "sni-only"


def test_both_certificates_name_every_routed_host() -> None:
    _, plan = planned()
    assert sorted(_names(_inputs(plan, "domain-cdn-cert"))) == sorted([DOMAIN, *ROUTED])
    origin = _names(_inputs(plan, "domain-origin-cert"))
    assert origin[0] == f"origin.{DOMAIN}" and sorted(origin[1:]) == sorted([DOMAIN, *ROUTED])


def test_each_validation_record_once_per_certificate_and_awaited() -> None:
    """The wildcard and its base name share one record (ACM drops the `*` label), so a certificate of four
    names has three records, each named once, and its validation waits for all three."""
    _, plan = planned()
    records = {r.name: plain(r.inputs) for r in plan.by_type(RECORD)}
    for certificate, names in (("cdn", [DOMAIN]), ("origin", [f"origin.{DOMAIN}", DOMAIN])):
        expected = sorted(f"_validation.{n}" for n in [*names, *ROUTED[:2]])
        mine = [v for k, v in records.items() if k.startswith(f"domain-{certificate}-validation")]
        assert sorted(r["name"].rstrip(".") for r in mine) == expected
        assert all(r["type"] == "CNAME" and r["zoneId"] == "Z0123456789EXAMPLE" for r in mine)
        validated = _inputs(plan, f"domain-{certificate}-validated")
        assert sorted(validated["validationRecordFqdns"]) == expected


def test_every_routed_host_has_alias_records_to_cloudfront() -> None:
    _, plan = planned()
    records = [plain(r.inputs) for r in plan.by_type(RECORD)]
    to_cloudfront = {
        (r["name"], r["type"])
        for r in records
        if r.get("aliases") and r["aliases"][0]["name"] == "cdn.cloudfront.example"
    }
    assert to_cloudfront == {(h, kind) for h in [DOMAIN, *ROUTED] for kind in ("A", "AAAA")}
    assert all(r["zoneId"] == "Z0123456789EXAMPLE" for r in records)


def test_the_listener_rules_route_on_the_same_hosts() -> None:
    _, plan = planned()
    rules = {r.name: plain(r.inputs) for r in plan.by_type("aws:lb/listenerRule:ListenerRule")}
    hosts_of = {
        name: [c["hostHeader"]["values"] for c in rule["conditions"] if "hostHeader" in c]
        for name, rule in rules.items()
    }
    assert hosts_of["admin-rule"] == [["admin.app.example.com"]]
    assert hosts_of["tenants-rule"] == [["tenants.app.example.com", "*.tenants.app.example.com"]]
    assert hosts_of["web-rule"] == []


def test_the_plan_passes_the_origin_certificate_rule() -> None:
    spec, plan = planned()
    report = evaluate(plan.resources, spec.environment)
    assert "cloudfront-origin-certificate-covers-host" not in {v.rule for v in report.violations}


def _without_host(resource: PlannedResource, host: str) -> PlannedResource:
    if resource.name != "domain-origin-cert":
        return resource
    names = [n for n in resource.inputs["subjectAlternativeNames"] if n != host]
    return dataclasses.replace(resource, inputs={**resource.inputs, "subjectAlternativeNames": names})


def test_the_origin_certificate_rule_catches_a_host_missing_from_the_certificate() -> None:
    """Before this change the aliases would have carried the host while the origin certificate did not:
    the rule reports that plan (viewers of the host would get 502)."""
    spec, plan = planned()
    broken = [_without_host(r, "admin.app.example.com") for r in plan.resources]
    found = [
        v
        for v in evaluate(broken, spec.environment).violations
        if v.rule == "cloudfront-origin-certificate-covers-host"
    ]
    assert len(found) == 1
    assert "forwards the viewer's Host (admin.app.example.com) to the HTTPS origin" in found[0].message


def test_a_stack_without_hosts_plans_as_before() -> None:
    """No routed host: one alias, the certificates of before (staging and prod keep their plans)."""
    spec = parse_config(five(services={}), stack="plain", source=SOURCE)
    plan = plan_stack(spec)
    assert plain(plan.by_type("aws:cloudfront/distribution:Distribution")[0].inputs)["aliases"] == [DOMAIN]
    assert _names(_inputs(plan, "domain-origin-cert")) == [f"origin.{DOMAIN}", DOMAIN]


def _routed(*host_names: str, **extra: Any) -> dict[str, Any]:
    return {"site": {"kind": "web", "hostNames": list(host_names), **extra}}


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("admin.example.com", "admin.example.com is not app.example.com or a name under it"),
        ("xapp.example.com", "xapp.example.com is not app.example.com or a name under it"),
        ("*.example.com", "*.example.com is not app.example.com or a name under it"),
        ("a?.app.example.com", "a?.app.example.com: the only wildcard CloudFront, ACM and Route 53 all take"),
        ("a*.app.example.com", "a*.app.example.com: the only wildcard CloudFront, ACM and Route 53 all take"),
        (
            "a.*.app.example.com",
            "a.*.app.example.com: the only wildcard CloudFront, ACM and Route 53 all take",
        ),
        ("Admin.app.example.com", "Admin.app.example.com is not lower-case"),
        ("origin.app.example.com", "origin.app.example.com is the load balancer's own name"),
    ],
)
def test_hosts_the_edge_cannot_serve_are_refused(host: str, why: str) -> None:
    message = error_for(five(services=_routed(host)))
    assert f"scalestack:services.site.hostNames: {why}" in message


@pytest.mark.parametrize("host", ["app.example.com", "www.app.example.com", "*.app.example.com"])
def test_the_domain_names_under_it_and_a_leading_wildcard_are_taken(host: str) -> None:
    spec = parse_config(
        five(services=_routed(host, pathPatterns=["/site/*"], livenessPath="/site/up")),
        stack="ok",
        source=SOURCE,
    )
    assert host in spec.routed_hosts


def test_hosts_without_a_domain_are_refused_with_one_error_per_service() -> None:
    message = error_for(config("dev", services=_routed("admin.example.com")))
    assert (
        "scalestack:services.site.hostNames: a service routed on host names needs scalestack:domain"
        in message
    )
    assert message.count("hostNames") == 1


def test_more_names_than_a_certificate_takes_are_refused() -> None:
    """The origin certificate names origin.<domain> and the domain besides the hosts: 9 hosts make 11."""
    many = {
        f"s{i}": {"kind": "web", "hostNames": [f"s{i}.{DOMAIN}"]}
        for i in range(hosts.ACM_NAMES_PER_CERTIFICATE - 1)
    }
    message = error_for(five(services=many))
    assert "scalestack:services: the origin certificate would name 11 hosts" in message
    assert "scalestack:services: the CloudFront certificate" not in message  # 10 names: within the quota
    # A certificate brought along is the user's to size: the kit does not request it.
    brought = five(
        services=many,
        domain={
            "name": DOMAIN,
            "hostedZoneId": "Z0123456789EXAMPLE",
            "originCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
            "0123abcd-0123-abcd-0123-0123456789ab",
        },
    )
    parse_config(brought, stack="ok", source=SOURCE)
