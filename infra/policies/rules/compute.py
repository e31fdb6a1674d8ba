"""EC2 launch templates and auto-scaling groups."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Final

from infra.policies import tokens as t
from infra.policies.model import (
    AWS_REQUIRED,
    EVERYWHERE,
    STANDARD,
    Category,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
    stack_key,
)
from infra.policies.rules._checks import absent, at_most, one_of, only_if
from infra.policies.values import flag, get, is_set, is_unknown, items, number

ROLLBACK_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html"
USER_DATA_DOC = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
USER_DATA_MAX_BYTES: Final = 16 * 1024
"""User data is limited to 16 KB "in raw form, before it is base64-encoded" (USER_DATA_DOC)."""
# Where a group names its launch template version: a plain launch template, or the mixed instances policy's.
_VERSION_PATHS = (
    "launchTemplate.version",
    "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.version",
)


def _numbered_version(resource: Resource) -> str | None:
    for path in _VERSION_PATHS:
        version = resource.get(path)
        if is_set(version) and not is_unknown(version) and not str(version).isdigit():
            return (
                f"{path} is {version}, so AWS cannot roll an instance refresh back to the previous version; "
                "name the template's numbered version (latestVersion)."
            )
    return None


def _user_data_size(resource: Resource) -> str | None:
    """The template's user data as EC2 counts it: the bytes the base64 text decodes to."""
    encoded = resource.get("userData")
    if not isinstance(encoded, str) or is_unknown(encoded):
        return None
    try:
        size = len(base64.b64decode(encoded, validate=True))
    except binascii.Error:
        size = len(encoded.encode())  # not base64: what EC2 would be sent as it is
    if size <= USER_DATA_MAX_BYTES:
        return None
    return (
        f"the user data is {size} bytes decoded, over EC2's {USER_DATA_MAX_BYTES} (16 KB, counted before "
        "base64 encoding), so AWS refuses the launch template; trim the boot script or have it fetch the "
        "rest (from S3 or SSM) at boot."
    )


def _imds_v2(resource: Resource) -> str | None:
    if resource.get("metadataOptions.httpEndpoint") == "disabled":
        return None
    return one_of(
        "metadataOptions.httpTokens",
        {"required"},
        "instances accept IMDSv1 (httpTokens={value}), so an SSRF bug in the app can steal the instance "
        "role's credentials; set metadataOptions.httpTokens='required'.",
        default="optional",
    )(resource)


def _ebs_encrypted(resource: Resource) -> str | None:
    mappings = items(resource.get("blockDeviceMappings"))
    if mappings is None:
        return None
    if not mappings:
        return (
            "the launch template declares no block device mappings, so the root volume is encrypted only if "
            "the AMI's snapshot happens to be; map the root device with ebs.encrypted='true'."
        )
    for mapping in mappings:
        ebs = get(mapping, "ebs")
        if ebs is None or is_unknown(ebs):
            continue
        encrypted = get(ebs, "encrypted")
        if not is_unknown(encrypted) and flag(encrypted) is not True:
            device = get(mapping, "deviceName", "a volume")
            return (
                f"EBS volume {device} is not encrypted, so its data and snapshots are readable by anyone "
                "who gets the snapshot; set ebs.encrypted='true'."
            )
    return None


def _no_public_ip(resource: Resource) -> str | None:
    interfaces = items(resource.get("networkInterfaces")) or []
    if any(flag(get(i, "associatePublicIpAddress")) is True for i in interfaces):
        return (
            "instances get a public IP address, which exposes them to the internet past the load balancer; "
            "set associatePublicIpAddress='false' and run them in private subnets."
        )
    return None


def _has_load_balancer(resource: Resource) -> bool:
    return any(is_set(resource.get(key)) for key in ("targetGroupArns", "loadBalancers", "trafficSources"))


def _spread_over_zones(stack: Stack) -> Iterator[Finding]:
    for group in stack.of_type(*t.AUTOSCALING_GROUP):
        zones = _zones_of(stack, group)
        if zones is not None and len(zones) < 2:
            yield Finding(
                group,
                f"the group runs in {len(zones)} availability zone(s), so one zone outage takes every "
                "instance down; give vpcZoneIdentifiers subnets in at least two zones.",
            )


def _zones_of(stack: Stack, group: Resource) -> set[object] | None:
    """Distinct zones of the group's subnets (by the subnets' own AZs when they are in the stack)."""
    subnets = stack.sources(group, "vpcZoneIdentifiers", *t.SUBNET)
    if subnets:
        zones = [s.get("availabilityZone") or s.get("availabilityZoneId") for s in subnets]
        if any(z is None or is_unknown(z) for z in zones):
            return None
        return set(zones)
    listed = items(group.get("vpcZoneIdentifiers")) or items(group.get("availabilityZones"))
    if listed is None or any(is_unknown(v) for v in listed):
        return None
    return set(listed)


LAUNCHING: Final = "autoscaling:EC2_INSTANCE_LAUNCHING"


def _has_launch_hook(stack: Stack, group: Resource) -> bool | None:
    """True when a launch lifecycle hook holds new instances (inline or as its own resource)."""
    hooks = items(group.get("initialLifecycleHooks"))
    if hooks is None:
        return None
    inline = [get(h, "lifecycleTransition") for h in hooks]
    separate = [
        hook.get("lifecycleTransition")
        for hook in stack.referencing(group, "autoscalingGroupName", *t.LIFECYCLE_HOOK)
    ]
    transitions = inline + separate
    if any(is_unknown(x) for x in transitions):
        return None
    return LAUNCHING in transitions


def _warm_pool_prerequisites(stack: Stack) -> Iterator[Finding]:
    for group in stack.of_type(*t.AUTOSCALING_GROUP):
        pool = group.get("warmPool")
        if not is_set(pool) or is_unknown(pool):
            continue
        if _has_launch_hook(stack, group) is False:
            yield Finding(
                group,
                "the group has a warm pool but no launch lifecycle hook, so an instance can be stopped "
                "mid-boot and later put in service unready; add an EC2_INSTANCE_LAUNCHING hook the boot "
                "script completes.",
            )
        if is_set(group.get("mixedInstancesPolicy")):
            yield Finding(
                group,
                "the group has both a warm pool and a mixed instances policy (or Spot), which AWS refuses; "
                "drop the warm pool or run the group on one on-demand instance type.",
            )
        prepared = get(pool, "maxGroupPreparedCapacity")
        if not is_unknown(prepared) and (number(prepared) is None or number(prepared) == -1):
            yield Finding(
                group,
                "the warm pool has no maxGroupPreparedCapacity, so AWS keeps max - desired instances in it "
                "(not the pool size you meant); set maxGroupPreparedCapacity.",
            )


RULES: list[Rule] = [
    ResourceRule(
        id="ec2-imdsv2-required",
        description="Launch templates require IMDSv2 session tokens.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=t.LAUNCH_TEMPLATE,
        check=_imds_v2,
    ),
    ResourceRule(
        id="ec2-imds-hop-limit",
        description="Launch templates keep the IMDS response hop limit at 1.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LAUNCH_TEMPLATE,
        check=at_most(
            "metadataOptions.httpPutResponseHopLimit",
            1,
            "the metadata hop limit is {value}, so containers on the instance can fetch the instance role's "
            "credentials; keep metadataOptions.httpPutResponseHopLimit at 1.",
            default=1,
        ),
    ),
    ResourceRule(
        id="ec2-ebs-encrypted",
        description="Every EBS volume in a launch template is encrypted.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=t.LAUNCH_TEMPLATE,
        check=_ebs_encrypted,
    ),
    ResourceRule(
        id="ec2-no-public-ip",
        description="Launch templates don't give instances public IP addresses.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.LAUNCH_TEMPLATE,
        check=_no_public_ip,
    ),
    ResourceRule(
        id="ec2-no-ssh-key",
        description="Launch templates attach no SSH key pair (use SSM Session Manager).",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.LAUNCH_TEMPLATE,
        check=absent(
            "keyName",
            "instances accept SSH logins with key pair {value}, so a long-lived credential bypasses IAM "
            "and audit; drop keyName and use SSM Session Manager.",
        ),
    ),
    ResourceRule(
        id="asg-elb-health-check",
        description="Auto-scaling groups behind a load balancer use ELB health checks.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.AUTOSCALING_GROUP,
        check=only_if(
            _has_load_balancer,
            one_of(
                "healthCheckType",
                {"ELB"},
                "the group uses {value} health checks, so an instance whose app is down keeps running and "
                "serving errors; set healthCheckType='ELB'.",
                default="EC2",
            ),
        ),
    ),
    StackRule(
        id="asg-multi-az",
        description="Auto-scaling groups spread over at least two availability zones.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        check=_spread_over_zones,
        fix=stack_key("network.availabilityZones"),
    ),
    ResourceRule(
        id="ec2-user-data-size",
        description="A launch template's user data is at most 16 KB before base64 encoding, as EC2 takes it.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        types=t.LAUNCH_TEMPLATE,
        check=_user_data_size,
        category=Category.AWS,
        source=USER_DATA_DOC,
    ),
    ResourceRule(
        id="asg-numbered-launch-template-version",
        description="Auto-scaling groups name a numbered launch template version: AWS rolls an instance "
        "refresh back only to a numbered version, never to $Latest or $Default.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        types=t.AUTOSCALING_GROUP,
        check=_numbered_version,
        category=Category.AWS,
        source=ROLLBACK_DOC,
    ),
    ResourceRule(
        id="asg-no-provider-instance-refresh",
        description="Auto-scaling groups have no provider-managed instance refresh: the provider saves the "
        "new launch template version on the group before it starts the refresh, so its rollback returns "
        "to the new version.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        types=t.AUTOSCALING_GROUP,
        check=absent(
            "instanceRefresh",
            "the group's instanceRefresh block starts a refresh after the provider saved the new version on "
            "the group, so a rollback stays on the new version; remove it and let the deploy pipeline start "
            "the refresh with a DesiredConfiguration.",
        ),
        category=Category.AWS,
        source="https://github.com/hashicorp/terraform-provider-aws/issues/34189",
    ),
    ResourceRule(
        id="asg-launch-template",
        description="Auto-scaling groups use launch templates, not deprecated launch configurations.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        types=t.AUTOSCALING_GROUP,
        check=absent(
            "launchConfiguration",
            "the group uses a launch configuration, which can't express IMDSv2-only or newer instance "
            "types; switch to a launch template.",
        ),
    ),
    StackRule(
        id="asg-warm-pool-prerequisites",
        types=t.AUTOSCALING_GROUP + t.LIFECYCLE_HOOK,
        description=(
            "A warm pool has a launch lifecycle hook and a maxGroupPreparedCapacity bounding its size, "
            "on a group without a mixed instances policy or Spot."
        ),
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_warm_pool_prerequisites,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html",
    ),
]
