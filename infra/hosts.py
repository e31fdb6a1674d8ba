"""Public host names: which names a web service may route on, and the names the edge must carry for them.

A service routed on a host gets viewer traffic only if CloudFront answers for that name (an alias, covered
by the viewer certificate), DNS sends it there (an alias record in the hosted zone) and the load balancer's
certificate names it too: the default behaviour forwards the viewer's Host to the HTTPS origin (DESIGN.md,
"The origin certificate names the public host"). Plain Python: the spec checks hosts before any resource
exists, and the program derives the certificates, aliases and records from the same list.
"""

from __future__ import annotations

from collections.abc import Iterable

ORIGIN_LABEL = "origin"
"""CloudFront reaches the load balancer as <ORIGIN_LABEL>.<domain>; that record points at the ALB, so no
service may route on that name (its alias record would have to point at CloudFront instead)."""

WILDCARD = "*."
CLOUDFRONT_WILDCARD_SOURCE = (
    "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/alternate-domain-names-wildcard.html"
)
"""An alias wildcard must begin with `*.`; no partial label (`*domain.example.com`), no middle label."""
CLOUDFRONT_LOWERCASE_SOURCE = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/CNAMEs.html"
"""All alternate domain names must be lowercase and covered by the viewer certificate's names."""
ROUTE53_WILDCARD_SOURCE = "https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html"
"""`*` replaces the whole leftmost label only (`*.example.com`); anywhere else DNS reads it as a character."""
ACM_WILDCARD_VALIDATION_SOURCE = "https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html"
"""ACM drops the `*` label when it builds a DNS validation record: `*.example.com` is validated by the same
CNAME as `example.com`, and one record per name validates it for any certificate in any region."""

ACM_NAMES_SOURCE = "https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html"
ACM_NAMES_PER_CERTIFICATE = 10
"""ACM quota "Number of domain names per ACM certificate": 10 by default, adjustable up to 100
(ACM_NAMES_SOURCE). The kit holds the default: a raised quota is per account, the plan cannot see it."""
CLOUDFRONT_QUOTAS_SOURCE = "https://docs.aws.amazon.com/general/latest/gr/cf_region.html"
CLOUDFRONT_ALIASES_PER_DISTRIBUTION = 100
"""CloudFront quota "Alternate domain names (CNAMEs) per distribution": 100, adjustable."""


def host_problem(host: str, domain: str) -> str | None:
    """Why `host` cannot be served through the stack's CloudFront for `domain`, or None.

    ALB host conditions take `*` and `?` anywhere; the edge does not: CloudFront aliases, ACM names and
    Route 53 records take only a whole leftmost `*` label (the *_SOURCE constants), and `?` nowhere.
    """
    if host != host.lower():
        return f"{host} is not lower-case (CloudFront aliases must be, {CLOUDFRONT_LOWERCASE_SOURCE})"
    base = host[len(WILDCARD) :] if host.startswith(WILDCARD) else host
    if "*" in base or "?" in base:
        return (
            f"{host}: the only wildcard CloudFront, ACM and Route 53 all take is a whole leftmost `*.` label "
            f"(e.g. *.{domain}); no `?`, no partial or middle label ({CLOUDFRONT_WILDCARD_SOURCE})"
        )
    if base != domain and not base.endswith(f".{domain}"):
        return (
            f"{host} is not {domain} or a name under it: the stack's certificates are validated and its "
            "records created in the domain's hosted zone, so a host must be the domain or end in "
            f".{domain}"
        )
    if host == f"{ORIGIN_LABEL}.{domain}":
        return f"{host} is the load balancer's own name (CloudFront's origin), not a public host"
    return None


def extra_hosts(domain: str, host_names: Iterable[str]) -> tuple[str, ...]:
    """The public names besides the domain itself, sorted and without repeats: adding a service adds
    names and never reorders the others' certificate names or records by position."""
    return tuple(sorted({h for h in host_names if h != domain}))


def validation_name(name: str) -> str:
    """The name whose DNS record validates `name` (ACM_WILDCARD_VALIDATION_SOURCE)."""
    return name[len(WILDCARD) :] if name.startswith(WILDCARD) else name


def origin_certificate_names(domain: str, hosts: Iterable[str]) -> list[str]:
    """The load balancer's certificate: the origin name (its subject), the domain, every routed host."""
    return [f"{ORIGIN_LABEL}.{domain}", domain, *extra_hosts(domain, hosts)]


def viewer_certificate_names(domain: str, hosts: Iterable[str]) -> list[str]:
    """CloudFront's certificate (us-east-1) and its aliases: the domain, then every routed host."""
    return [domain, *extra_hosts(domain, hosts)]
