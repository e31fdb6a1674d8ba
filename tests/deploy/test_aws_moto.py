"""The boto3 adapters and the status/images readers against moto: what moto implements, exercised for real."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.deploy.aws import Aws, AwsFleet, EcrRegistry, S3CloudFrontCdn, SsmHistory
from scripts.deploy.pipeline import Deployment, static_assets
from scripts.deploy.ports import HistoryEntry
from scripts.deploy.status import collect_images, collect_status
from scripts.exit_codes import ExitCode

from .fakes import FAST, Recorder, World
from .test_pipeline import request

REPO_URL = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scalestack-dev"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "x"},
        "layers": [],
    }
)


def test_ecr_login_tags_and_images(aws: str) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="scalestack-dev", imageTagMutability="IMMUTABLE")
    ecr.put_image(repositoryName="scalestack-dev", imageManifest=MANIFEST, imageTag="v1")
    registry = EcrRegistry(ecr)

    auth = registry.login()
    assert auth.username == "AWS" and auth.password and auth.registry.startswith("https://")
    assert registry.has_tag("scalestack-dev", "v1")
    assert not registry.has_tag("scalestack-dev", "v2")  # ImageNotFoundException is an answer, not an error
    rows = collect_images(registry, "scalestack-dev", "v1", datetime.now(UTC) + timedelta(hours=2))
    assert [(r["tags"], r["live"]) for r in rows] == [(["v1"], True)]
    assert rows[0]["ageSeconds"] >= 7000


def _fleet_stack() -> dict[str, Any]:
    """A VPC, a launch template running <repo>:v7, a web group behind a target group, alarms, a cache."""
    ec2, autoscaling, elb = boto3.client("ec2"), boto3.client("autoscaling"), boto3.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    user_data = base64.b64encode(f"ExecStartPre=/usr/bin/docker pull {REPO_URL}:v7\n".encode()).decode()
    template = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro", "UserData": user_data},
    )["LaunchTemplate"]["LaunchTemplateId"]
    target_group = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnet["SubnetId"],
        TargetGroupARNs=[target_group["TargetGroupArn"]],
    )
    cloudwatch = boto3.client("cloudwatch")
    for name in ("web-5xx", "web-latency"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="HTTPCode_Target_5XX_Count",
            Namespace="AWS/ApplicationELB",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="test")
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "db-replica-1"}],
                "Value": 4.0,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
            }
        ],
    )
    boto3.client("elasticache").create_replication_group(
        ReplicationGroupId="cache",
        ReplicationGroupDescription="app cache",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
    )
    return {
        "webAsgName": "web-asg",
        "workerAsgName": "worker-asg",
        "ecrRepositoryUrl": REPO_URL,
        "imageTag": "v7",
        "webTargetGroupArn": target_group["TargetGroupArn"],
        "alarmNames": ["web-5xx", "web-latency"],
        "dbInstanceIds": ["db-primary", "db-replica-1"],
        "cacheReplicationGroupId": "cache",
        "url": "https://d111.cloudfront.net",
    }


def test_fleet_reads_instances_targets_and_alarms(aws: str) -> None:
    outputs = _fleet_stack()
    fleet = AwsFleet(boto3.client("autoscaling"), boto3.client("elbv2"), boto3.client("cloudwatch"))

    instances = fleet.instances("web-asg")
    assert len(instances) == 2
    assert {(i.lifecycle_state, i.health_status, i.launch_template_version) for i in instances} == {
        ("InService", "Healthy", "1")
    }
    assert {t.state for t in fleet.target_health(outputs["webTargetGroupArn"])} == {"healthy"}
    assert fleet.alarms_firing(outputs["alarmNames"]) == ["web-5xx"]
    with pytest.raises(LookupError):
        fleet.instances("no-such-group")


class NoRefreshes:
    """Instance refresh is not in moto; status shows what the adapter answers, here: none yet."""

    def latest(self, group: str) -> None:
        return None


def test_status_reads_every_section(aws: str) -> None:
    outputs = _fleet_stack()

    doc = collect_status(Aws("us-east-1"), outputs, NoRefreshes())  # type: ignore[arg-type]

    web = doc["groups"]["web"]
    assert (web["min"], web["desired"], web["max"]) == (2, 2, 4)
    assert {i["imageTag"] for i in web["instances"]} == {"v7"}  # read from the launch template's user data
    assert web["refresh"] == {"status": "none"}
    assert "error" in doc["groups"]["worker"]  # a missing group shows in its section, the rest still reads
    assert {t["state"] for t in doc["targets"]} == {"healthy"}
    assert doc["replicaLagSeconds"] == {"db-replica-1": 4.0}
    assert doc["cache"]["status"] == "available"
    assert doc["alarmsInAlarm"] == ["web-5xx"]
    assert web["launchTemplate"]["groupVersion"] == web["launchTemplate"]["latestVersion"] == "1"
    assert web["launchTemplate"]["pendingRollout"] is False


def test_status_shows_a_version_no_refresh_rolled_out(aws: str) -> None:
    """A bare `pulumi up` makes a new template version; the group, pinned, still launches the old one."""
    outputs = _fleet_stack()
    ec2 = boto3.client("ec2")
    template = ec2.describe_launch_templates(LaunchTemplateNames=["web"])["LaunchTemplates"][0]
    ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"], SourceVersion="1", LaunchTemplateData={}
    )

    doc = collect_status(Aws("us-east-1"), outputs, NoRefreshes())  # type: ignore[arg-type]

    web = doc["groups"]["web"]["launchTemplate"]
    assert (web["groupVersion"], web["latestVersion"], web["pendingRollout"]) == ("1", "2", True)


def test_history_round_trip_keeps_the_newest_within_4kb(aws: str) -> None:
    history = SsmHistory(boto3.client("ssm"), "dev")
    assert history.entries() == []
    for n in range(60):
        history.record(
            HistoryEntry(f"tag-{n:03d}", "2026-01-01T00:00:00+00:00", "deploy", "ci-role", "c" * 40)
        )

    entries = history.entries()
    assert entries[-1].tag == "tag-059" and len(entries) < 60
    assert [e.tag for e in entries] == sorted(e.tag for e in entries)
    value = boto3.client("ssm").get_parameter(Name="/scalestack/dev/deploy-history")["Parameter"]["Value"]
    assert len(value) <= 4096


def test_publish_uploads_changes_and_reports_overwrites(aws: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="static-bucket")
    cdn = S3CloudFrontCdn(s3, boto3.client("cloudfront"))
    (tmp_path / "app.css").write_text("body{}")

    first = cdn.publish("static-bucket", {"static/app.css": tmp_path / "app.css"})
    again = cdn.publish("static-bucket", {"static/app.css": tmp_path / "app.css"})
    (tmp_path / "app.css").write_text("body{color:red}")
    changed = cdn.publish("static-bucket", {"static/app.css": tmp_path / "app.css"})

    assert (first.uploaded, first.overwritten) == (["static/app.css"], [])
    assert (again.uploaded, again.overwritten) == ([], [])
    assert (changed.uploaded, changed.overwritten) == (["static/app.css"], ["static/app.css"])
    head = s3.head_object(Bucket="static-bucket", Key="static/app.css")
    assert head["ContentType"] == "text/css" and "immutable" in head["CacheControl"]


def _distribution() -> str:
    return boto3.client("cloudfront").create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "s3",
                        "DomainName": "static-bucket.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]["Id"]


def test_deploy_static_step_polls_moto_invalidation_case_insensitively(aws: str, tmp_path: Path) -> None:
    """moto answers COMPLETED where AWS answers Completed; the step must finish on either."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="static-bucket")
    static = tmp_path / "app" / "static"
    static.mkdir(parents=True)
    (static / "app.css").write_text("body{}")
    [key] = static_assets(static)
    s3.put_object(Bucket="static-bucket", Key=key, Body=b"stale bytes under the same name")
    world = World()
    world.stack.deployed["cloudfrontDistributionId"] = distribution = _distribution()
    world.cdn = S3CloudFrontCdn(s3, boto3.client("cloudfront"))  # type: ignore[assignment]
    recorder = Recorder()

    code = Deployment(world.ports(), request(tmp_path), recorder, FAST).run()

    assert code == ExitCode.OK
    [invalidation] = boto3.client("cloudfront").list_invalidations(DistributionId=distribution)[
        "InvalidationList"
    ]["Items"]
    assert invalidation["Status"] == "COMPLETED"
    assert f"invalidation {invalidation['Id']} of 1 path(s) completed" in recorder.summaries[-1]["account"]
    assert s3.get_object(Bucket="static-bucket", Key=key)["Body"].read() == b"body{}"


def test_status_shows_a_missing_output_but_does_not_hide_a_bug(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A section whose output an older stack lacks says so; a KeyError inside a section is a bug and leaves
    `status` (the command line reports it as one) instead of showing as that section's error."""
    full = _fleet_stack()
    outputs = {k: v for k, v in full.items() if k != "cacheReplicationGroupId"}

    doc = collect_status(Aws("us-east-1"), outputs, NoRefreshes())  # type: ignore[arg-type]

    assert doc["cache"] == {
        "error": "the stack has no cacheReplicationGroupId output (brought up by an older scalestack?)"
    }
    assert {t["state"] for t in doc["targets"]} == {"healthy"}  # the other sections still read

    def broken(*_: object) -> None:
        raise KeyError("ReplicationGroups")

    monkeypatch.setattr("scripts.deploy.status.cache_status", broken)
    with pytest.raises(KeyError, match="ReplicationGroups"):
        collect_status(Aws("us-east-1"), full, NoRefreshes())  # type: ignore[arg-type]
