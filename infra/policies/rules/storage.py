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
    stack_key,
)
from infra.policies.values import flag, get, is_set, is_unknown, items, parse_document, statements, strings

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


_LOG_WRITERS = (
    (t.LOAD_BALANCER, "accessLogs"),
    (t.DISTRIBUTION, "loggingConfig"),
    (t.LOG_DELIVERY_DESTINATION, "deliveryDestinationConfiguration"),
    (t.BUCKET_LOGGING, "targetBucket"),
)


def _log_buckets(stack: Stack) -> set[str]:
    """Access-log buckets: append-only records, where versioning only doubles the cost.

    They are also exempt from access logging (logging the log bucket's own writes would loop) and from
    SSE-KMS (ALB access log delivery supports only SSE-S3, SECURITY.md).
    """
    return {
        urn
        for types, prop in _LOG_WRITERS
        for resource in stack.of_type(*types)
        for urn in resource.deps.get(prop, ())
        if urn in {b.urn for b in stack.of_type(*t.BUCKET)}
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


def _kms_encrypts(config: Resource) -> bool | None:
    rules = items(config.get("rules"))
    if rules is None:
        return None
    defaults = [get(r, "applyServerSideEncryptionByDefault") for r in rules]
    if any(is_unknown(d) for d in defaults):
        return None
    return any(
        str(get(d, "sseAlgorithm", "")).startswith("aws:kms") and is_set(get(d, "kmsMasterKeyId"))
        for d in defaults
    )


def _enabled_rules(lifecycle: Resource) -> list[Any] | None:
    rules = items(lifecycle.get("rules"))
    if rules is None or any(is_unknown(get(r, "status")) for r in rules):
        return None
    return [r for r in rules if get(r, "status") == "Enabled"]


def _aborts_multipart(lifecycle: Resource) -> bool | None:
    rules = _enabled_rules(lifecycle)
    if rules is None:
        return None
    return any(is_set(get(r, "abortIncompleteMultipartUpload.daysAfterInitiation")) for r in rules)


def _expires_old_versions(lifecycle: Resource) -> bool | None:
    rules = _enabled_rules(lifecycle)
    if rules is None:
        return None
    return any(is_set(get(r, "noncurrentVersionExpiration.noncurrentDays")) for r in rules)


def _unversioned(stack: Stack) -> set[str]:
    """Buckets with no enabled versioning: nothing noncurrent to expire."""
    return {
        bucket.urn
        for bucket in stack.of_type(*t.BUCKET)
        if not any(
            _versioned(v) is not False for v in stack.referencing(bucket, "bucket", *t.BUCKET_VERSIONING)
        )
    }


def _acls_disabled(ownership: Resource) -> bool | None:
    value = ownership.get("rule.objectOwnership")
    return None if is_unknown(value) else value == "BucketOwnerEnforced"


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
    StackRule(
        id="s3-lifecycle-abort-multipart",
        description="Every bucket has a lifecycle configuration that aborts incomplete multipart uploads.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_LIFECYCLE,
            _aborts_multipart,
            "no enabled lifecycle rule aborts incomplete multipart uploads, so parts of interrupted uploads "
            "stay invisible and billed forever; add abortIncompleteMultipartUpload to a lifecycle rule.",
        ),
    ),
    StackRule(
        id="s3-noncurrent-version-expiry",
        description="Versioned buckets expire noncurrent versions.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_LIFECYCLE,
            _expires_old_versions,
            "the bucket is versioned but never expires old versions, so every overwrite and delete is kept "
            "and billed forever; add noncurrentVersionExpiration to a lifecycle rule.",
            exempt=_unversioned,
        ),
    ),
    StackRule(
        id="s3-acls-disabled",
        description="Every bucket disables ACLs (object ownership BucketOwnerEnforced).",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_OWNERSHIP,
            _acls_disabled,
            "the bucket still honours object ACLs, so a writer can grant access that the bucket policy "
            "doesn't show; set BucketOwnershipControls objectOwnership='BucketOwnerEnforced'.",
        ),
    ),
    StackRule(
        id="s3-access-logging",
        description="Buckets other than log buckets write S3 server access logs to a log bucket.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_LOGGING,
            lambda logging: True,
            "the bucket logs no requests, so who read or changed its objects can't be traced; add a "
            "BucketLogging to a log bucket.",
            exempt=_log_buckets,
        ),
        fix=stack_key("cdn.accessLogs"),
    ),
    StackRule(
        id="s3-kms-encryption",
        description="Buckets other than log buckets are encrypted with a customer-managed KMS key.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        check=_companion_rule(
            t.BUCKET_ENCRYPTION,
            _kms_encrypts,
            "the bucket is encrypted with S3-managed keys, so anyone allowed s3:GetObject reads it and key "
            "use leaves no audit trail; use sseAlgorithm 'aws:kms' with a customer-managed kmsMasterKeyId.",
            exempt=_log_buckets,
        ),
    ),
]
