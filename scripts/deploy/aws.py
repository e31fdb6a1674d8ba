"""boto3 adapters for the ports in `ports.py`. They stay thin: no retries or decisions, botocore errors pass
through, and the pipeline maps them to the failure class of the step that made the call."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from scripts.deploy.errors import MissingResource
from scripts.deploy.ports import (
    Clock,
    CommandResult,
    GroupConfiguration,
    GroupInstance,
    HistoryEntry,
    HttpResponse,
    ImageInfo,
    RefreshState,
    RegistryAuth,
    RolloutPreferences,
    StaticSync,
    TargetHealth,
)

# get_command_invocation answers these while the command is still on its way or running.
_SSM_RUNNING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
# Static assets have content-hashed names (app_template/app/static.py), so a name never changes content.
STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_DIGEST_KEY = "sha256"
"""User metadata (x-amz-meta-sha256) holding an uploaded asset's content digest."""
# Parameter Store's standard tier holds 4 KB; the newest entries are the ones rollback needs.
_HISTORY_MAX_BYTES = 4096


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class Aws:
    """Clients for one region. AWS_ENDPOINT_URL (honoured by boto3 itself) points them at moto in tests."""

    def __init__(self, region: str) -> None:
        self._session = boto3.session.Session(region_name=region)
        self.region = region

    def client(self, service: str) -> Any:
        return self._session.client(service)  # type: ignore[call-overload]

    def caller_arn(self) -> str:
        return str(self.client("sts").get_caller_identity()["Arn"])


class EcrRegistry:
    def __init__(self, ecr: Any) -> None:
        self._ecr = ecr

    def login(self) -> RegistryAuth:
        data = self._ecr.get_authorization_token()["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        return RegistryAuth(username=username, password=password, registry=data["proxyEndpoint"])

    def has_tag(self, repository_name: str, tag: str) -> bool:
        try:
            self._ecr.describe_images(repositoryName=repository_name, imageIds=[{"imageTag": tag}])
        except ClientError as err:
            if error_code(err) == "ImageNotFoundException":
                return False
            raise
        return True

    def images(self, repository_name: str) -> list[ImageInfo]:
        found: list[ImageInfo] = []
        for page in self._ecr.get_paginator("describe_images").paginate(repositoryName=repository_name):
            found.extend(
                ImageInfo(
                    tags=tuple(detail.get("imageTags", ())),
                    digest=detail["imageDigest"],
                    pushed_at=detail.get("imagePushedAt"),
                    size_bytes=int(detail.get("imageSizeInBytes", 0)),
                )
                for detail in page["imageDetails"]
            )
        return sorted(found, key=lambda i: i.pushed_at.timestamp() if i.pushed_at else 0.0, reverse=True)


def _refresh_state(raw: dict[str, Any]) -> RefreshState:
    return RefreshState(
        refresh_id=raw["InstanceRefreshId"],
        status=raw["Status"],
        percentage=int(raw.get("PercentageComplete", 0)),
        reason=raw.get("StatusReason", ""),
        started_at=raw.get("StartTime"),
    )


class AutoScalingRefreshes:
    def __init__(self, autoscaling: Any) -> None:
        self._asg = autoscaling

    def latest(self, group: str) -> RefreshState | None:
        # AWS returns refreshes newest first.
        found = self._asg.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=1)[
            "InstanceRefreshes"
        ]
        return _refresh_state(found[0]) if found else None

    def get(self, group: str, refresh_id: str) -> RefreshState:
        found = self._asg.describe_instance_refreshes(
            AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id]
        )
        return _refresh_state(found["InstanceRefreshes"][0])

    def configuration(self, group: str) -> GroupConfiguration:
        groups = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not groups:
            raise MissingResource(f"auto scaling group {group} does not exist")
        return GroupConfiguration.of_group(groups[0])

    def start(
        self,
        group: str,
        desired: GroupConfiguration,
        preferences: RolloutPreferences,
        alarms: Sequence[str],
        auto_rollback: bool,
    ) -> str:
        prefs: dict[str, Any] = {
            "MinHealthyPercentage": preferences.min_healthy_percentage,
            "InstanceWarmup": preferences.instance_warmup_seconds,
            # Rollback returns instances to the configuration saved on the group before this refresh; AWS
            # refuses it without a DesiredConfiguration, and to $Latest/$Default
            # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html).
            "AutoRollback": auto_rollback,
            # Instances already on the desired version stay: a refresh back to it replaces only the others.
            "SkipMatching": True,
            "ScaleInProtectedInstances": "Refresh",
            "StandbyInstances": "Terminate",
        }
        if preferences.checkpoint_percentages:
            # AWS only replaces every instance when the last checkpoint is 100.
            points = sorted({*preferences.checkpoint_percentages, 100})
            prefs["CheckpointPercentages"] = points
            prefs["CheckpointDelay"] = preferences.checkpoint_delay_seconds
        if alarms:
            prefs["AlarmSpecification"] = {"Alarms": list(alarms)}
        answer = self._asg.start_instance_refresh(
            AutoScalingGroupName=group,
            Strategy="Rolling",
            DesiredConfiguration=dict(desired.raw),
            Preferences=prefs,
        )
        return str(answer["InstanceRefreshId"])

    def rollback(self, group: str) -> str:
        return str(self._asg.rollback_instance_refresh(AutoScalingGroupName=group)["InstanceRefreshId"])

    def cancel(self, group: str) -> str:
        return str(self._asg.cancel_instance_refresh(AutoScalingGroupName=group)["InstanceRefreshId"])


class SsmCommandRunner:
    def __init__(self, ssm: Any, clock: Clock, poll_seconds: float = 3.0) -> None:
        self._ssm = ssm
        self._clock = clock
        self._poll = poll_seconds

    def run(
        self, instance_id: str, commands: Sequence[str], comment: str, timeout_seconds: int
    ) -> CommandResult:
        command_id = self._ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName="AWS-RunShellScript",
            Comment=comment[:100],
            Parameters={"commands": list(commands), "executionTimeout": [str(timeout_seconds)]},
        )["Command"]["CommandId"]
        deadline = self._clock.monotonic() + timeout_seconds + 60  # SSM's own timeout answers first
        while True:
            try:
                answer = self._ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            except ClientError as err:
                # The invocation appears a moment after send_command returns.
                if error_code(err) != "InvocationDoesNotExist":
                    raise
                answer = {"Status": "Pending"}
            status = answer["Status"]
            if status not in _SSM_RUNNING:
                return CommandResult(
                    status,
                    answer.get("StandardOutputContent", ""),
                    answer.get("StandardErrorContent", ""),
                    answer.get("ResponseCode"),
                )
            if self._clock.monotonic() > deadline:
                self._ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
                return CommandResult("TimedOut", "", f"no answer from SSM within {timeout_seconds + 60}s")
            self._clock.sleep(self._poll)


class AwsFleet:
    def __init__(self, autoscaling: Any, elbv2: Any, cloudwatch: Any) -> None:
        self._asg = autoscaling
        self._elb = elbv2
        self._cw = cloudwatch

    def instances(self, group: str) -> list[GroupInstance]:
        groups = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not groups:
            raise MissingResource(f"auto scaling group {group} does not exist")
        return [
            GroupInstance(
                instance_id=i["InstanceId"],
                lifecycle_state=i["LifecycleState"],
                health_status=i["HealthStatus"],
                launch_template_version=i.get("LaunchTemplate", {}).get("Version"),
            )
            for i in groups[0].get("Instances", [])
        ]

    def target_health(self, target_group_arn: str) -> list[TargetHealth]:
        answer = self._elb.describe_target_health(TargetGroupArn=target_group_arn)
        return [
            TargetHealth(
                target_id=d["Target"]["Id"],
                state=d["TargetHealth"]["State"],
                reason=d["TargetHealth"].get("Description") or d["TargetHealth"].get("Reason", ""),
            )
            for d in answer["TargetHealthDescriptions"]
        ]

    def alarms_firing(self, alarm_names: Sequence[str]) -> list[str]:
        firing: list[str] = []
        names = list(alarm_names)
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            answer = self._cw.describe_alarms(AlarmNames=names[start : start + 100], StateValue="ALARM")
            alarms = answer["MetricAlarms"] + answer.get("CompositeAlarms", [])
            # Filter again: moto ignores StateValue when AlarmNames is given.
            firing.extend(a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM")
        return firing


class S3CloudFrontCdn:
    def __init__(self, s3: Any, cloudfront: Any) -> None:
        self._s3 = s3
        self._cf = cloudfront

    def publish(self, bucket: str, assets: Mapping[str, Path]) -> StaticSync:
        """Upload assets whose content differs from the bucket's copy."""
        sync = StaticSync(uploaded=[], overwritten=[])
        for key, path in sorted(assets.items()):
            body = path.read_bytes()
            # The content's digest travels as object metadata: the bucket is SSE-KMS encrypted, and such an
            # object's ETag is not the MD5 of its data
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag").
            digest = hashlib.sha256(body).hexdigest()
            try:
                head = self._s3.head_object(Bucket=bucket, Key=key)
                existing: str | None = head.get("Metadata", {}).get(CONTENT_DIGEST_KEY, "")
            except ClientError as err:
                if error_code(err) not in {"404", "NoSuchKey", "NotFound"}:
                    raise
                existing = None
            if existing == digest:
                continue
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self._s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                CacheControl=STATIC_CACHE_CONTROL,
                Metadata={CONTENT_DIGEST_KEY: digest},
            )
            sync.uploaded.append(key)
            if existing is not None:
                sync.overwritten.append(key)
        return sync

    def invalidate(self, distribution_id: str, paths: Sequence[str]) -> str:
        answer = self._cf.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": list(paths)},
                "CallerReference": f"scalestack-{uuid.uuid4()}",
            },
        )
        return str(answer["Invalidation"]["Id"])

    def invalidation_status(self, distribution_id: str, invalidation_id: str) -> str:
        answer = self._cf.get_invalidation(DistributionId=distribution_id, Id=invalidation_id)
        return str(answer["Invalidation"]["Status"])


class SsmHistory:
    """Deploy history in Parameter Store, `/scalestack/<stack>/deploy-history`: readable by CI and people
    alike without the Pulumi backend, and it lives in the account the stack lives in."""

    def __init__(self, ssm: Any, stack: str) -> None:
        self._ssm = ssm
        self.name = f"/scalestack/{stack}/deploy-history"

    def entries(self) -> list[HistoryEntry]:
        try:
            value = self._ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except ClientError as err:
            if error_code(err) == "ParameterNotFound":
                return []
            raise
        return [HistoryEntry(**item) for item in json.loads(value)]

    def record(self, entry: HistoryEntry) -> None:
        items = [e.to_json() for e in [*self.entries(), entry]]
        while len(json.dumps(items)) > _HISTORY_MAX_BYTES:
            items.pop(0)
        self._ssm.put_parameter(Name=self.name, Value=json.dumps(items), Type="String", Overwrite=True)


class UrllibHttp:
    def get(self, url: str, timeout_seconds: float) -> HttpResponse:
        request = urllib.request.Request(url, headers={"User-Agent": "scalestack-smoke"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                return HttpResponse(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as err:
            return HttpResponse(err.code, err.read(), dict(err.headers))


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
