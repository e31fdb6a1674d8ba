"""S3 buckets; in pulumi-aws v7 their protections are separate resources tied to the bucket by `bucket`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from infra.policies import tokens as t
from infra.policies.model import (
    EVERYWHERE,
    STANDARD,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
)
from infra.policies.values import flag, get, is_unknown, items, parse_document, statements, strings

_PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
_PUBLIC_GRANTEES = ("AllUsers", "AuthenticatedUsers")
_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
_SSE_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse"}

# None means "can't tell during preview": the bucket is given the benefit of the doubt.
Verdict = Callable[[Resource], "bool | None"]


def _companion_rule(
    companion_types: tuple[str, ...],
    satisfies: Verdict,
    message: str,
    *,
    exempt: Callable[[Stack], set[str]] = lambda stack: set(),
) -> Callable[[Stack], Iterator[Finding]]:
    """Every bucket (bar `exempt` URNs) needs a companion resource (policy, block, ...) that satisfies."""

    def check(stack: Stack) -> Iterator[Finding]:
        skipped = exempt(stack)
        for bucket in stack.of_type(*t.BUCKET):
            verdicts = [satisfies(c) for c in stack.referencing(bucket, "bucket", *companion_types)]
            if bucket.urn not in skipped and not any(v is None or v for v in verdicts):
                yield Finding(bucket, message)

    return check


def _log_buckets(stack: Stack) -> set[str]:
    """Access-log buckets: append-only records, where versioning only doubles the cost."""
    return {
        urn
        for types, prop in ((t.LOAD_BALANCER, "accessLogs"), (t.DISTRIBUTION, "loggingConfig"))
        for resource in stack.of_type(*types)
        for urn in resource.deps.get(prop, ())
    }


def _blocks_everything(block: Resource) -> bool | None:
    values = [block.get(name) for name in _BLOCK_FLAGS]
    if any(is_unknown(v) for v in values):
        return None
    return all(flag(v) is True for v in values)


def _encrypts(config: Resource) -> bool | None:
    rules = items(config.get("rules"))
    if rules is None:
        return None
    algorithms = [get(r, "applyServerSideEncryptionByDefault.sseAlgorithm") for r in rules]
    if any(is_unknown(a) for a in algorithms):
        return None
    return any(a in _SSE_ALGORITHMS for a in algorithms)


def _versioned(versioning: Resource) -> bool | None:
    status = versioning.get("versioningConfiguration.status")
    return None if is_unknown(status) else status == "Enabled"


def _denies_plain_http(policy: Resource) -> bool | None:
    if is_unknown(policy.get("policy")):
        return None
    document = parse_document(policy.get("policy"))
    if document is None:
        return None
    return any(
        s.get("Effect") == "Deny" and str(_secure_transport(s)).lower() == "false"
        for s in statements(document)
    )


def _secure_transport(statement: Mapping[str, Any]) -> Any:
    condition = statement.get("Condition")
    return get(condition, "Bool.aws:SecureTransport") if isinstance(condition, Mapping) else None


def _public_acl(resource: Resource) -> str | None:
    acl = resource.get("acl")
    grants = items(resource.get("accessControlPolicy.grants")) or []
    uris = [str(get(g, "grantee.uri", "")) for g in grants]
    if acl in _PUBLIC_ACLS or any(u.endswith(_PUBLIC_GRANTEES) for u in uris):
        return (
            "the bucket ACL grants access to everyone (or every AWS account), which publishes its objects; "
            "use a private ACL and serve content through CloudFront."
        )
    return None


def _public_policy(resource: Resource) -> str | None:
    document = parse_document(resource.get("policy"))
    for statement in statements(document) if document else []:
        if (
            statement.get("Effect") == "Allow"
            and _anyone(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            return (
                "the bucket policy allows any principal ('*') without a condition, which makes the bucket "
                "public; grant the CloudFront service principal with an AWS:SourceArn condition instead."
            )
    return None


def _anyone(principal: Any) -> bool:
    if isinstance(principal, Mapping):
        return "*" in strings(principal.get("AWS"))
    return "*" in strings(principal)


RULES: list[Rule] = [
    StackRule(
        id="s3-block-public-access",
        description="Every bucket has a public access block with all four settings on.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        check=_companion_rule(
            t.BUCKET_PUBLIC_ACCESS_BLOCK,
            _blocks_everything,
            "the bucket has no public access block with all four settings on, so one ACL or policy mistake "
            "publishes its objects; add a BucketPublicAccessBlock with every flag true.",
        ),
    ),
    StackRule(
        id="s3-encryption",
        description="Every bucket declares default server-side encryption.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_ENCRYPTION,
            _encrypts,
            "the bucket declares no default encryption, so the kit can't show its objects are encrypted at "
            "rest; add a BucketServerSideEncryptionConfiguration (AES256 or aws:kms).",
        ),
    ),
    StackRule(
        id="s3-tls-only",
        description="Every bucket policy denies requests that don't use TLS (aws:SecureTransport=false).",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_POLICY,
            _denies_plain_http,
            "no bucket policy denies plain-HTTP requests, so objects can be read or written unencrypted; add "
            "a Deny statement on aws:SecureTransport=false.",
        ),
    ),
    StackRule(
        id="s3-versioning",
        description="Buckets other than access-log buckets have versioning enabled.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_VERSIONING,
            _versioned,
            "the bucket isn't versioned, so an overwritten or deleted object (a bad deploy of static assets) "
            "can't be restored; add a BucketVersioning with status 'Enabled'.",
            exempt=_log_buckets,
        ),
    ),
    ResourceRule(
        id="s3-no-public-acl",
        description="Bucket ACLs never grant access to everyone or to all AWS accounts.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.BUCKET_ACL,
        check=_public_acl,
    ),
    ResourceRule(
        id="s3-no-public-policy",
        description="Bucket policies never allow an unconditioned '*' principal.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.BUCKET_POLICY,
        check=_public_policy,
    ),
]
