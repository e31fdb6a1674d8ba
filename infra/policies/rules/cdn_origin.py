"""CloudFront and the certificate of the HTTPS origin it reaches: the forwarded Host must be on it.

When a behaviour forwards the viewer's Host header, CloudFront's TLS connection to the origin is for that
name, and a certificate that does not cover it fails the handshake: viewers get 502
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html, "SSL/TLS
negotiation failure"; https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html).
Headers in a cache policy's key are forwarded to the origin too
(https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CachePolicyHeadersConfig.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from infra.policies import tokens as t
from infra.policies.model import AWS_REQUIRED, Category, Finding, Resource, Rule, Severity, Stack, StackRule
from infra.policies.values import get, is_unknown, items

# AWS-managed policies that send the viewer's Host to the origin (fixed ids, the same in every account):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
HOST_IN_CACHE_KEY: Final = frozenset(
    {"4cc15a8a-d715-48a4-82b8-cc0b614638fe"}
)  # UseOriginCacheControlHeaders-QueryStrings
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html
HOST_FORWARDING_ORIGIN_REQUESTS: Final = frozenset(
    {
        "216adef6-5c7f-47e4-b989-5492eafa07d3",  # AllViewer
        "33f36d7e-f396-46d9-90e0-52428a34d9dc",  # AllViewerAndCloudFrontHeaders-2022-06
    }
)
_TLS_TO_ORIGIN: Final = {"https-only", "match-viewer"}
_CACHE_POLICY: Final = ("aws:cloudfront/cachePolicy:CachePolicy",)
_ORIGIN_REQUEST_POLICY: Final = ("aws:cloudfront/originRequestPolicy:OriginRequestPolicy",)
_RECORD: Final = ("aws:route53/record:Record",)
_LISTENER_CERTIFICATE: Final = ("aws:lb/listenerCertificate:ListenerCertificate",)


def _host_whitelisted(config: Any) -> bool:
    return any(str(h).lower() == "host" for h in items(get(config, "headers.items")) or [])


def _forwards_host(stack: Stack, distribution: Resource, behavior: Any, prop: str) -> bool:
    """True only when the behaviour is known to send Host; an unknown policy can't tell (False)."""
    if get(behavior, "cachePolicyId") in HOST_IN_CACHE_KEY:
        return True
    if get(behavior, "originRequestPolicyId") in HOST_FORWARDING_ORIGIN_REQUESTS:
        return True
    legacy = items(get(behavior, "forwardedValues.headers")) or []
    if any(str(h).lower() in {"host", "*"} for h in legacy):
        return True
    # Custom policies are followed through the behaviour's dependencies; the ordered behaviours share one
    # list of them, so they are only judged on the default behaviour, where the link is exact.
    if prop != "defaultCacheBehavior":
        return False
    cache_keys = [
        get(p, "parametersInCacheKeyAndForwardedToOrigin.headersConfig")
        for p in stack.sources(distribution, prop, *_CACHE_POLICY)
    ]
    requests = [get(p, "headersConfig") for p in stack.sources(distribution, prop, *_ORIGIN_REQUEST_POLICY)]
    return any(get(c, "headerBehavior") == "whitelist" and _host_whitelisted(c) for c in cache_keys) or any(
        get(c, "headerBehavior") in {"allViewer", "allViewerAndWhitelistCloudFront"}
        or (get(c, "headerBehavior") == "whitelist" and _host_whitelisted(c))
        for c in requests
    )


def _load_balancers(stack: Stack, distribution: Resource, domain: Any) -> list[Resource]:
    """The load balancers an origin domain reaches: through an alias record of that name, or directly."""
    named = [
        record
        for record in stack.of_type(*_RECORD)
        if isinstance(domain, str) and str(record.get("name", "")).rstrip(".").lower() == domain.lower()
    ]
    if named:
        return [lb for record in named for lb in stack.sources(record, "aliases", *t.LOAD_BALANCER)]
    return stack.sources(distribution, "origins", *t.LOAD_BALANCER)


def _certificates(stack: Stack, listener: Resource) -> list[Resource]:
    direct = [(listener, "certificateArn")] + [
        (extra, "certificateArn")
        for extra in stack.referencing(listener, "listenerArn", *_LISTENER_CERTIFICATE)
    ]
    found = []
    for owner, prop in direct:
        found += stack.sources(owner, prop, *t.CERTIFICATE)
        for validation in stack.sources(owner, prop, *t.CERTIFICATE_VALIDATION):
            found += stack.sources(validation, "certificateArn", *t.CERTIFICATE)
    return found


def _names(certificate: Resource) -> list[str] | None:
    subject = certificate.get("domainName")
    alternatives = items(certificate.get("subjectAlternativeNames"))
    if not isinstance(subject, str) or is_unknown(subject) or alternatives is None:
        return None
    return [subject, *(str(a) for a in alternatives)]


def _covers(names: list[str], host: str) -> bool:
    host = host.lower()
    for name in (n.lower() for n in names):
        # A wildcard covers exactly one label (https://docs.aws.amazon.com/acm/latest/userguide/acm-certificate.html).
        if name == host or (name.startswith("*.") and host.partition(".")[2] == name[2:]):
            return True
    return False


def _origin_certificate_covers_host(stack: Stack) -> Iterator[Finding]:
    for distribution in stack.of_type(*t.DISTRIBUTION):
        aliases = items(distribution.get("aliases"))
        origins = items(distribution.get("origins"))
        if not aliases or origins is None or any(is_unknown(a) for a in aliases):
            continue
        by_id = {get(o, "originId"): o for o in origins}
        behaviors = [("defaultCacheBehavior", distribution.get("defaultCacheBehavior"))] + [
            ("orderedCacheBehaviors", b) for b in items(distribution.get("orderedCacheBehaviors")) or []
        ]
        checked: set[str] = set()
        for prop, behavior in behaviors:
            origin = by_id.get(get(behavior, "targetOriginId"))
            policy = get(origin, "customOriginConfig.originProtocolPolicy")
            if origin is None or policy not in _TLS_TO_ORIGIN:
                continue
            if not _forwards_host(stack, distribution, behavior, prop):
                continue
            domain = get(origin, "domainName")
            for finding in _uncovered(stack, distribution, domain, [str(a) for a in aliases]):
                if finding.resource.urn not in checked:
                    checked.add(finding.resource.urn)
                    yield finding


def _uncovered(stack: Stack, distribution: Resource, domain: Any, aliases: list[str]) -> Iterator[Finding]:
    for balancer in _load_balancers(stack, distribution, domain):
        for listener in stack.referencing(balancer, "loadBalancerArn", *t.LISTENER):
            if str(listener.get("protocol", "")).upper() != "HTTPS":
                continue
            certificates = _certificates(stack, listener)
            names = [_names(c) for c in certificates]
            if not certificates or any(n is None for n in names):
                continue  # a certificate from outside the plan, or names not known yet: can't tell
            known = [name for group in names if group is not None for name in group]
            missing = [a for a in aliases if not _covers(known, a)]
            if missing:
                yield Finding(
                    certificates[0],
                    f"CloudFront forwards the viewer's Host ({', '.join(missing)}) to the HTTPS origin "
                    f"{domain}, whose listener certificate names only {', '.join(known)}, so the TLS "
                    "handshake fails and viewers get 502; add the public name to the origin certificate.",
                )


RULES: list[Rule] = [
    StackRule(
        id="cloudfront-origin-certificate-covers-host",
        types=t.DISTRIBUTION + t.LISTENER + t.CERTIFICATE,
        description=(
            "When a CloudFront behaviour forwards the viewer's Host to an HTTPS origin, the ALB listener "
            "certificate behind that origin covers every alias of the distribution."
        ),
        severity=Severity.CRITICAL,
        enforcement=AWS_REQUIRED,
        check=_origin_certificate_covers_host,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-502-bad-gateway.html",
    ),
]
