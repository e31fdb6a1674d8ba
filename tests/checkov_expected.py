"""The checkov findings each shipped stack's Terraform export is expected to have, each with its reason.

tests/test_checkov_scan.py compares checkov's failed check ids per stack with these sets exactly: a new
finding fails it, and so does a listed one that no longer occurs (then take it off the list). Every entry
is a reviewed decision (SECURITY.md says why the kit does not do it) or, where said, checkov misreading a
correct resource. Check ids are checkov 3.3.30's (requirements-scan.txt).
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # Reviewed decisions by environment or by checkov's reading.
    "CKV_AWS_338": "dev and staging keep logs under a year by design (prod keeps 365 days: rule logs-retention-prod)",
    "CKV2_AWS_47": (
        "checkov's Log4j check also demands AWSManagedRulesAnonymousIpList, which blocks VPN, Tor and hosting "
        "ranges (real users); Known Bad Inputs (the Log4j rules) is on wherever a WAF is (dev has none)"
    ),
    # The log buckets (the static-assets bucket passes these).
    "CKV_AWS_145": "SSE-S3, not KMS: the ALB log bucket must (ALB log delivery supports only SSE-S3)",
    "CKV_AWS_18": "the log buckets are not access-logged themselves (a log bucket logging to itself loops)",
    "CKV_AWS_21": "the log buckets are not versioned: logs are written once and expire by lifecycle",
    # Reviewed decisions, every stack.
    "CKV_AWS_86": (
        "checkov reads only legacy logging_config; the distribution logs through standard logging v2 "
        "(aws_cloudwatch_log_delivery to the logs bucket), which needs no bucket ACLs"
    ),
    "CKV_AWS_259": (
        "HSTS without preload: asking browsers to preload the domain is the domain owner's decision and "
        "hard to undo (max-age two years, includeSubDomains and override are set)"
    ),
    "CKV_AWS_50": "the cache-token rotation function runs twice a month; X-Ray tracing would add cost, not insight",
    "CKV_AWS_116": (
        "Secrets Manager invokes the rotation function synchronously and reports failures itself "
        "(RotationFailed); a dead-letter queue applies only to asynchronous invocations"
    ),
    "CKV_AWS_117": (
        "the rotation function calls only the ElastiCache and Secrets Manager APIs, never the cache "
        "itself, so it needs no VPC placement"
    ),
    "CKV_AWS_272": "the rotation function's code is built from this repository by `pulumi up`; no signing profile",
    "CKV2_AWS_28": "no WAF on the ALB: only CloudFront can reach it, and the WAF sits on CloudFront",
    "CKV2_AWS_62": "no S3 event notifications: nothing consumes the buckets' events",
    "CKV_AWS_144": "no cross-region replication: a one-region kit; logs and static assets are reproducible",
    "CKV_AWS_157": "no Multi-AZ standby behind read replicas spread across zones (dev: one instance)",
    "CKV_AWS_305": "no default root object: the origin is the app, which serves `/` itself",
    "CKV_AWS_310": "no origin failover: the single origin is the ALB of the one region",
    "CKV_AWS_374": "no geo restriction: a public web app",
    "CKV_AWS_378": "HTTP from the ALB to targets in private subnets; TLS ends at the ALB",
    # Reviewed decisions by environment (profiles): dev and staging are disposable.
    "CKV_AWS_150": "no load balancer deletion protection in dev and staging (torn down and rebuilt)",
    "CKV_AWS_293": "no database deletion protection in dev and staging (torn down and rebuilt)",
    # Dev only: no custom domain, no certificate, no WAF, one cache node, no enhanced monitoring.
    "CKV2_AWS_42": "dev has no custom domain: CloudFront's default certificate",
    "CKV_AWS_174": "dev has no custom domain: the default certificate fixes the minimum TLS version",
    "CKV_AWS_2": "dev's ALB listener is HTTP: no certificate, and only CloudFront reaches it",
    "CKV_AWS_103": "dev's ALB listener is HTTP, so no TLS policy",
    "CKV2_AWS_20": "dev's ALB has no HTTPS listener to redirect to",
    "CKV_AWS_68": "dev has no WAF (cost; the profile enables it in staging and prod)",
    "CKV2_AWS_50": "dev's cache is one node, so no automatic failover",
    "CKV_AWS_118": "dev has no RDS enhanced monitoring",
    "CKV_AWS_260": (
        "checkov misreads dev's port-80 rule: its source is CloudFront's origin-facing prefix list "
        "(prefix_list_id), which the check does not read on aws_vpc_security_group_ingress_rule"
    ),
}

_EVERY_STACK = frozenset(
    {
        "CKV_AWS_86",
        "CKV_AWS_259",
        "CKV_AWS_50",
        "CKV_AWS_116",
        "CKV_AWS_117",
        "CKV_AWS_272",
        "CKV_AWS_338",
        "CKV2_AWS_47",
        "CKV_AWS_145",
        "CKV_AWS_18",
        "CKV_AWS_21",
        "CKV2_AWS_28",
        "CKV2_AWS_62",
        "CKV_AWS_144",
        "CKV_AWS_157",
        "CKV_AWS_305",
        "CKV_AWS_310",
        "CKV_AWS_374",
        "CKV_AWS_378",
    }
)

EXPECTED: dict[str, frozenset[str]] = {
    "prod": _EVERY_STACK - {"CKV_AWS_338"},
    "staging": _EVERY_STACK | {"CKV_AWS_150", "CKV_AWS_293"},
    "dev": _EVERY_STACK
    | {
        "CKV_AWS_150",
        "CKV_AWS_293",
        "CKV2_AWS_42",
        "CKV_AWS_174",
        "CKV_AWS_2",
        "CKV_AWS_103",
        "CKV2_AWS_20",
        "CKV_AWS_68",
        "CKV2_AWS_50",
        "CKV_AWS_118",
        "CKV_AWS_260",
    },
}
