"""KMS keys, ECR repositories, CloudWatch log groups and alarms, SNS topics."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.policies import tokens as t
from infra.policies.model import (
    PROD_ONLY,
    RECOMMENDED,
    STANDARD,
    Enforcement,
    Finding,
    Level,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
    stack_key,
)
from infra.policies.rules._checks import at_least, flag_is, one_of, only_if, present
from infra.policies.values import get, is_set, is_unknown, parse_document, statements, strings

LOGS_KMS_DOC = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
PROD_LOG_RETENTION_DAYS = 365
# dev and staging keep logs as briefly as their stack files say; only prod must keep a year.
PROD_REQUIRED: Enforcement = Enforcement(Level.DISABLED, Level.DISABLED, Level.MANDATORY)


def _symmetric(resource: Resource) -> bool:
    # AWS rotates only symmetric encryption keys; asymmetric and HMAC keys can't enable rotation.
    spec = resource.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT")
    return spec == "SYMMETRIC_DEFAULT" and resource.get("keyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"


def _lifecycle(stack: Stack) -> Iterator[Finding]:
    for repository in stack.of_type(*t.ECR_REPOSITORY):
        if not stack.referencing(repository, "repository", *t.ECR_LIFECYCLE_POLICY):
            yield Finding(
                repository,
                "the repository has no lifecycle policy, so every pushed image is kept forever, old "
                "vulnerable ones included; expire untagged and old images.",
            )


def _alarm_actions(resource: Resource) -> str | None:
    if is_set(resource.get("alarmActions")) and resource.get("actionsEnabled") is not False:
        return None
    return (
        "the alarm notifies no one and triggers nothing when it fires, so the outage it detects goes "
        "unnoticed; set alarmActions (an SNS topic or a scaling policy)."
    )


def _key_policy(resource: Resource) -> str | None:
    raw = resource.get("policy")
    if is_unknown(raw):
        return None
    document = parse_document(raw)
    if document is None:
        return (
            "the key has no explicit key policy, so who may use it is left to AWS's default; set a policy "
            "that lets the account root administer it and each service principal do only what it needs."
        )
    allows = [s for s in statements(document) if s.get("Effect") == "Allow"]
    if not any(_is_account_root(s.get("Principal")) for s in allows):
        return (
            "no statement lets the account root administer the key, so IAM policies can't grant its use and "
            "a mistake can lock the account out of it; allow arn:aws:iam::<account>:root kms:*."
        )
    for statement in allows:
        problem = _service_problem(statement)
        if problem:
            return problem
    return None


def _is_account_root(principal: Any) -> bool:
    aws = principal.get("AWS") if isinstance(principal, Mapping) else None
    return any(p.startswith("arn:aws:iam::") and p.endswith(":root") for p in strings(aws))


def _service_problem(statement: Mapping[str, Any]) -> str | None:
    principal = statement.get("Principal")
    if principal == "*" or (isinstance(principal, Mapping) and "*" in strings(principal.get("AWS"))):
        if not statement.get("Condition"):
            return (
                "the key policy allows any principal ('*') without a condition, which lets every AWS account "
                "use the key; name the principals."
            )
        return None
    services = strings(principal.get("Service")) if isinstance(principal, Mapping) else []
    if not services:
        return None
    actions = strings(statement.get("Action"))
    if "kms:*" in actions or "*" in actions:
        return (
            f"the key policy grants {', '.join(services)} every KMS action, which includes deleting the key "
            "and changing its policy; grant only what the service uses."
        )
    condition = statement.get("Condition")
    context = get(condition, "ArnLike") or get(condition, "ArnEquals") or {}
    logs = [s for s in services if s.startswith("logs.")]
    if logs and "kms:EncryptionContext:aws:logs:arn" not in context:
        return (
            f"the key policy lets {logs[0]} use the key without a kms:EncryptionContext:aws:logs:arn "
            f"condition, so any account's log group can be encrypted with it ({LOGS_KMS_DOC}); add the "
            "condition."
        )
    return None


def _ssm_secure(resource: Resource) -> str | None:
    kind, key = resource.get("type"), resource.get("keyId")
    if is_unknown(kind) or (kind == "SecureString" and is_set(key)):
        return None
    return (
        f"the parameter is stored as {kind or 'String'} {'without' if not is_set(key) else 'with'} a "
        "customer-managed key, so anyone allowed ssm:GetParameter reads it and reads leave no KMS audit "
        "trail; use type SecureString with keyId set to the stack's key."
    )


def _alarm_topics_subscribed(stack: Stack) -> Iterator[Finding]:
    notified = {urn for alarm in stack.of_type(*t.METRIC_ALARM) for urn in alarm.deps.get("alarmActions", ())}
    for topic in stack.of_type(*t.SNS_TOPIC):
        if topic.urn in notified and not stack.referencing(topic, "topic", *t.SNS_SUBSCRIPTION):
            yield Finding(
                topic,
                "alarms notify this topic but nothing subscribes to it, so an alarm reaches no one; "
                "subscribe the on-call address.",
            )


RULES: list[Rule] = [
    ResourceRule(
        id="kms-key-rotation",
        description="Symmetric KMS keys rotate their key material yearly.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.KMS_KEY,
        check=only_if(
            _symmetric,
            flag_is(
                "enableKeyRotation",
                True,
                "the key's material never rotates, so a leaked key keeps decrypting everything ever "
                "encrypted with it; set enableKeyRotation=true.",
                default=False,
            ),
        ),
    ),
    ResourceRule(
        id="ecr-scan-on-push",
        description="ECR repositories scan images for vulnerabilities on push.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.ECR_REPOSITORY,
        check=flag_is(
            "imageScanningConfiguration.scanOnPush",
            True,
            "images aren't scanned when pushed, so known-vulnerable images deploy silently; set "
            "imageScanningConfiguration.scanOnPush=true.",
            default=False,
        ),
    ),
    ResourceRule(
        id="ecr-immutable-tags",
        description="ECR repositories make image tags immutable.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.ECR_REPOSITORY,
        check=one_of(
            "imageTagMutability",
            {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"},
            "image tags are mutable ({value}), so the image a release tag names can be swapped after review; "
            "set imageTagMutability='IMMUTABLE'.",
            default="MUTABLE",
        ),
    ),
    StackRule(
        id="ecr-lifecycle-policy",
        description="ECR repositories expire old images with a lifecycle policy.",
        severity=Severity.LOW,
        enforcement=RECOMMENDED,
        check=_lifecycle,
    ),
    ResourceRule(
        id="logs-retention-set",
        description="CloudWatch log groups set a retention period.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LOG_GROUP,
        check=at_least(
            "retentionInDays",
            1,
            "the log group never expires its logs (retentionInDays={value}), so personal data in them is "
            "kept forever and costs grow unbounded; set retentionInDays.",
        ),
        fix=stack_key("monitoring.logRetentionDays"),
    ),
    ResourceRule(
        id="logs-retention-prod",
        description=f"Production log groups keep logs for at least {PROD_LOG_RETENTION_DAYS} days.",
        severity=Severity.MEDIUM,
        enforcement=PROD_REQUIRED,
        types=t.LOG_GROUP,
        check=at_least(
            "retentionInDays",
            PROD_LOG_RETENTION_DAYS,
            "production logs are kept {value} days, so an incident found later (a breach is typically found "
            f"months on) has no record to investigate; keep at least {PROD_LOG_RETENTION_DAYS}.",
        ),
        fix=stack_key("monitoring.logRetentionDays"),
    ),
    ResourceRule(
        id="logs-encrypted",
        description="CloudWatch log groups are encrypted with a customer-managed KMS key.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LOG_GROUP,
        check=present(
            "kmsKeyId",
            "the log group is encrypted only with CloudWatch's own key, so anyone allowed to read logs reads "
            "them and key use leaves no audit trail; set kmsKeyId to a key whose policy lets "
            f"logs.<region>.amazonaws.com use it under an encryption context condition ({LOGS_KMS_DOC}).",
        ),
    ),
    ResourceRule(
        id="kms-key-policy",
        description=(
            "Every KMS key has an explicit policy: the account root administers, each service gets only "
            "what it needs."
        ),
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.KMS_KEY,
        check=_key_policy,
    ),
    ResourceRule(
        id="ssm-parameter-secure",
        description="SSM parameters are SecureString under a customer-managed KMS key.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.SSM_PARAMETER,
        check=_ssm_secure,
    ),
    StackRule(
        id="alarm-topic-subscribed",
        description="Every SNS topic alarms notify has a subscriber (production: someone is paged).",
        severity=Severity.HIGH,
        enforcement=PROD_ONLY,
        types=t.SNS_TOPIC + t.SNS_SUBSCRIPTION,
        check=_alarm_topics_subscribed,
        fix=stack_key("monitoring.alarmEmail"),
    ),
    ResourceRule(
        id="cloudwatch-alarm-actions",
        description="CloudWatch alarms have enabled alarm actions.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.METRIC_ALARM,
        check=_alarm_actions,
    ),
    ResourceRule(
        id="sns-topic-encrypted",
        description="SNS topics encrypt messages with a KMS key.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.SNS_TOPIC,
        check=present(
            "kmsMasterKeyId",
            "the topic stores alert messages unencrypted at rest, so they are readable outside IAM's "
            "control; set kmsMasterKeyId to a key whose policy lets cloudwatch.amazonaws.com use it.",
        ),
    ),
]
