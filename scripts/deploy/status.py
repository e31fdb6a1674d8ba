"""`scalestack status` and `scalestack images`: what runs where, read from AWS, as one JSON-able document."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.contract import Output, parse_services
from scripts.deploy.aws import Aws, AwsFleet, EcrRegistry
from scripts.deploy.errors import MissingResource
from scripts.deploy.ports import GroupConfiguration, InstanceRefreshes


def launch_template_image_tags(
    ec2: Any, repository_url: str, versions: set[tuple[str, str]]
) -> dict[str, str]:
    """`<template id>:<version>` -> the image tag its user data runs (`<repository url>:<tag>`)."""
    pattern = re.compile(re.escape(repository_url) + r":([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})")
    tags: dict[str, str] = {}
    for template_id, version in sorted(versions):
        answer = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])
        for item in answer["LaunchTemplateVersions"]:
            user_data = base64.b64decode(item["LaunchTemplateData"].get("UserData", "")).decode(
                errors="replace"
            )
            match = pattern.search(user_data)
            tags[f"{template_id}:{item['VersionNumber']}"] = match.group(1) if match else "unknown"
    return tags


def _group(aws: Aws, group: str, repository_url: str) -> dict[str, Any]:
    found = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    if not found["AutoScalingGroups"]:
        return {"name": group, "error": "no such auto scaling group"}
    raw = found["AutoScalingGroups"][0]
    versions = {
        (i["LaunchTemplate"]["LaunchTemplateId"], str(i["LaunchTemplate"]["Version"]))
        for i in raw.get("Instances", [])
        if "LaunchTemplate" in i
    }
    tags = launch_template_image_tags(aws.client("ec2"), repository_url, versions)
    instances = []
    for i in raw.get("Instances", []):
        template = i.get("LaunchTemplate", {})
        key = f"{template.get('LaunchTemplateId')}:{template.get('Version')}"
        instances.append(
            {
                "id": i["InstanceId"],
                "state": i["LifecycleState"],
                "health": i["HealthStatus"],
                "zone": i.get("AvailabilityZone", ""),
                "imageTag": tags.get(key, "unknown"),
            }
        )
    return {
        "name": group,
        "min": raw["MinSize"],
        "desired": raw["DesiredCapacity"],
        "max": raw["MaxSize"],
        "launchTemplate": template_versions(aws.client("ec2"), GroupConfiguration.of_group(raw)),
        "instances": instances,
    }


def template_versions(ec2: Any, configuration: GroupConfiguration) -> dict[str, Any]:
    """The version the group launches vs its template's latest: a bare `pulumi up` makes a new version
    that no instance runs until the pipeline's instance refresh rolls it out."""
    template = configuration.template
    found = ec2.describe_launch_templates(LaunchTemplateIds=[template.template_id])["LaunchTemplates"]
    latest = str(found[0]["LatestVersionNumber"])
    return {
        "id": template.template_id,
        "groupVersion": template.version,
        "latestVersion": latest,
        "pendingRollout": template.version != latest,
    }


def _refresh(refreshes: InstanceRefreshes, group: str) -> dict[str, Any]:
    try:
        state = refreshes.latest(group)
    except (ClientError, BotoCoreError) as err:
        return {"error": str(err)}
    if state is None:
        return {"status": "none"}
    return {
        "id": state.refresh_id,
        "status": state.status,
        "percentage": state.percentage,
        "reason": state.reason,
        "startedAt": state.started_at.isoformat() if state.started_at else None,
    }


def replica_lag(cloudwatch: Any, replica_ids: list[str], now: datetime) -> dict[str, float | None]:
    """Seconds behind the primary per replica: the newest 1-minute average of the last ten minutes."""
    lag: dict[str, float | None] = {}
    for replica in replica_ids:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": replica}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now,
            Period=60,
            Statistics=["Average"],
        )["Datapoints"]
        lag[replica] = max(points, key=lambda p: p["Timestamp"])["Average"] if points else None
    return lag


def cache_status(elasticache: Any, group_id: str) -> dict[str, Any]:
    groups = elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"]
    raw = groups[0]
    return {
        "id": group_id,
        "status": raw["Status"],
        "automaticFailover": raw.get("AutomaticFailover", "unknown"),
        "members": len(raw.get("MemberClusters", [])),
    }


def _output(outputs: Mapping[str, Any], key: str) -> Any:
    """An output a section needs; a stack brought up by an older scalestack may not have it."""
    if not outputs.get(key):
        raise MissingResource(f"the stack has no {key} output (brought up by an older scalestack?)")
    return outputs[key]


def collect_status(aws: Aws, outputs: Mapping[str, Any], refreshes: InstanceRefreshes) -> dict[str, Any]:
    """Each section reads independently: one AWS error shows in its section instead of hiding the rest."""
    fleet = AwsFleet(aws.client("autoscaling"), aws.client("elbv2"), aws.client("cloudwatch"))

    def section(read: Any) -> Any:
        # AWS's answers only: a KeyError or IndexError here is a bug, for the command line to report as one.
        try:
            return read()
        except (ClientError, BotoCoreError, MissingResource) as err:
            return {"error": str(err)}

    services = service_groups(outputs)
    replicas = list(outputs.get(Output.DB_INSTANCE_IDS) or [])[1:]  # primary first, then replicas
    return {
        "imageTag": outputs.get(Output.IMAGE_TAG),
        "url": outputs.get(Output.URL),
        # Every service's group, by service name (`kind` says web or worker).
        "groups": {
            name: {
                "kind": kind,
                **section(lambda g=group: _group(aws, g, outputs.get(Output.ECR_REPOSITORY_URL, ""))),
                "refresh": _refresh(refreshes, group),
                **({"targets": section(lambda arn=arn: _targets(fleet, arn))} if arn else {}),
            }
            for name, (kind, group, arn) in services.items()
        },
        "targets": section(
            lambda: [
                {"id": t.target_id, "state": t.state, "reason": t.reason}
                for t in fleet.target_health(_output(outputs, Output.WEB_TARGET_GROUP_ARN))
            ]
        ),
        "replicaLagSeconds": section(
            lambda: replica_lag(aws.client("cloudwatch"), replicas, datetime.now(UTC))
        ),
        "cache": section(
            lambda: cache_status(
                aws.client("elasticache"), _output(outputs, Output.CACHE_REPLICATION_GROUP_ID)
            )
        ),
        "alarmsInAlarm": section(lambda: fleet.alarms_firing(list(outputs.get(Output.ALARM_NAMES) or []))),
    }


def service_groups(outputs: Mapping[str, Any]) -> dict[str, tuple[str, str, str | None]]:
    """Each service's kind, group and target group: the `services` output, or the web and worker groups
    of a stack from before it (whatever of them the outputs name)."""
    if outputs.get(Output.SERVICES):
        return {n: (s.kind, s.asg_name, s.target_group_arn) for n, s in parse_services(outputs).items()}
    roles = {
        "web": ("web", outputs.get(Output.WEB_ASG_NAME), outputs.get(Output.WEB_TARGET_GROUP_ARN)),
        "worker": ("worker", outputs.get(Output.WORKER_ASG_NAME), None),
    }
    return {role: (kind, group, arn) for role, (kind, group, arn) in roles.items() if group}


def _targets(fleet: AwsFleet, target_group_arn: str) -> list[dict[str, Any]]:
    return [
        {"id": t.target_id, "state": t.state, "reason": t.reason}
        for t in fleet.target_health(target_group_arn)
    ]


def collect_images(
    registry: EcrRegistry, repository_name: str, live_tag: str | None, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "tags": list(image.tags),
            "digest": image.digest,
            "sizeBytes": image.size_bytes,
            "pushedAt": image.pushed_at.isoformat() if image.pushed_at else None,
            "ageSeconds": int((now - image.pushed_at).total_seconds()) if image.pushed_at else None,
            "live": live_tag in image.tags,
        }
        for image in registry.images(repository_name)
    ]


def human_age(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
