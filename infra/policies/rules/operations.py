"""KMS keys, ECR repositories, CloudWatch log groups and alarms, SNS topics."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies import tokens as t
from infra.policies.model import (
    RECOMMENDED,
    STANDARD,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
)
from infra.policies.rules._checks import at_least, flag_is, one_of, only_if, present
from infra.policies.values import is_set


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
