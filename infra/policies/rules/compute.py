"""EC2 launch templates and auto-scaling groups."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policies import tokens as t
from infra.policies.model import (
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
)
from infra.policies.rules._checks import absent, at_most, one_of, only_if
from infra.policies.values import flag, get, is_set, is_unknown, items

ROLLBACK_DOC = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html"
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
    ),
    ResourceRule(
        id="asg-numbered-launch-template-version",
        description="Auto-scaling groups name a numbered launch template version: AWS rolls an instance "
        "refresh back only to a numbered version, never to $Latest or $Default.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
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
        enforcement=EVERYWHERE,
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
]
