"""Amazon EC2 Auto Scaling's instance refresh as AWS documents it, served to a real boto3 client.

The model keeps what the pipeline depends on: each group's saved configuration (launch template or mixed
instances policy, with its version), the launch template version each instance runs, and each refresh's
status. Every behaviour cites the page that states it. botocore still validates every request against
the service model (a `before-call` handler answers after validation, the way botocore's Stubber does), so
a request AWS would refuse on shape is refused here too, and one AWS refuses on meaning is refused by the
model with AWS's error code.

Simplifications, none of which the pipeline relies on: one instance replaced per step (a step is one poll
of the fake clock), a checkpoint's delay lasts `CHECKPOINT_STEPS` steps, the ELB's verdict on a target does
not feed the group's health, and an alarm fires while an instance of a given version is in service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

from scripts.deploy.ports import LAUNCH_TEMPLATE, MIXED_INSTANCES_POLICY, GroupInstance, TargetHealth

GUIDE = "https://docs.aws.amazon.com/autoscaling/ec2/userguide"
API = "https://docs.aws.amazon.com/autoscaling/ec2/APIReference"
ROLLBACK_GUIDE = f"{GUIDE}/instance-refresh-rollback.html"
START_API = f"{API}/API_StartInstanceRefresh.html"
ROLLBACK_API = f"{API}/API_RollbackInstanceRefresh.html"
CANCEL_API = f"{API}/API_CancelInstanceRefresh.html"
PREFERENCES_API = f"{API}/API_RefreshPreferences.html"
DESCRIBE_API = f"{API}/API_DescribeInstanceRefreshes.html"
ALARM_SPECIFICATION_API = f"{API}/API_AlarmSpecification.html"
REFRESH_ALARMS_MAX = 10  # ALARM_SPECIFICATION_API: "You can specify up to 10 alarms."

ACTIVE = frozenset({"Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress"})
# RollbackInstanceRefresh: "you can't roll back a refresh that's finished" (ROLLBACK_GUIDE); one that is
# still replacing instances can be.
ROLLBACK_FROM = frozenset({"Pending", "InProgress", "Baking"})
CHECKPOINT_STEPS = 2
UNNUMBERED = frozenset({"$Latest", "$Default"})


class AwsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def template_of(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The launch template specification a configuration launches from, in either form."""
    if MIXED_INSTANCES_POLICY in configuration:
        return dict(configuration[MIXED_INSTANCES_POLICY]["LaunchTemplate"]["LaunchTemplateSpecification"])
    return dict(configuration[LAUNCH_TEMPLATE])


def version_of(configuration: Mapping[str, Any]) -> str:
    return str(template_of(configuration)["Version"])


@dataclass
class Instance:
    instance_id: str
    version: str
    lifecycle_state: str = "InService"
    health_status: str = "Healthy"


@dataclass
class Refresh:
    refresh_id: str
    desired: dict[str, Any] | None
    previous: dict[str, Any]
    """The configuration saved on the group when the refresh started: what a rollback returns to."""
    preferences: dict[str, Any]
    to_replace: list[str]
    status: str = "Pending"
    reason: str = ""
    replaced: int = 0
    checkpoint_wait: int = 0
    passed_checkpoints: set[int] = field(default_factory=set)

    @property
    def percentage(self) -> int:
        total = len(self.to_replace)
        return 100 if not total else self.replaced * 100 // total


@dataclass
class Group:
    name: str
    configuration: dict[str, Any]
    instances: list[Instance]
    refreshes: list[Refresh] = field(default_factory=list)  # oldest first

    def active(self) -> Refresh | None:
        latest = self.refreshes[-1] if self.refreshes else None
        return latest if latest and latest.status in ACTIVE else None


class AutoScalingModel:
    def __init__(self, journal: Callable[[str, Any], None] = lambda name, args: None) -> None:
        self.groups: dict[str, Group] = {}
        self.latest_versions: dict[str, int] = {}  # launch template id -> latest version number
        self.failing: set[tuple[str, str]] = set()
        """(template id, version) whose instances fail their health checks during a refresh."""
        self.elb_unhealthy: set[tuple[str, str]] = set()
        """(template id, version) whose targets the load balancer reports unhealthy."""
        self.alarm_rules: dict[str, tuple[str, str]] = {}  # alarm -> (template id, version) that trips it
        self.firing: set[str] = set()
        self.journal = journal
        self._ids = 0

    # --- set-up --------------------------------------------------------------------------------------

    def add_group(self, name: str, configuration: Mapping[str, Any], size: int) -> None:
        template = template_of(configuration)
        self.latest_versions.setdefault(template["LaunchTemplateId"], int(template["Version"]))
        instances = [Instance(self._next("i-"), str(template["Version"])) for _ in range(size)]
        self.groups[name] = Group(name, deepcopy(dict(configuration)), instances)

    def create_version(self, template_id: str) -> str:
        """What `pulumi up` does to a launch template whose data changed: a new numbered version. The
        group's saved configuration does not move (it pins its version), so no instance changes."""
        self.latest_versions[template_id] += 1
        return str(self.latest_versions[template_id])

    # --- what the tests read -------------------------------------------------------------------------

    def versions(self, group: str) -> list[str]:
        """The launch template version each instance of the group runs."""
        return [i.version for i in self.groups[group].instances]

    def saved_version(self, group: str) -> str:
        return version_of(self.groups[group].configuration)

    def target_health(self, group: str) -> list[TargetHealth]:
        template = template_of(self.groups[group].configuration)["LaunchTemplateId"]
        return [
            TargetHealth(i.instance_id, "unhealthy", "Health checks failed with these codes: [502]")
            if (template, i.version) in self.elb_unhealthy
            else TargetHealth(i.instance_id, "healthy")
            for i in self.groups[group].instances
        ]

    # --- the API -------------------------------------------------------------------------------------

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:
        return {
            "AutoScalingGroups": [
                self._describe_group(self.groups[name])
                for name in AutoScalingGroupNames
                if name in self.groups
            ]
        }

    def describe_instance_refreshes(
        self,
        AutoScalingGroupName: str,
        InstanceRefreshIds: list[str] | None = None,
        MaxRecords: int | None = None,
    ) -> dict[str, Any]:
        # Newest first (DESCRIBE_API: "the most recent" come first).
        refreshes = list(reversed(self.groups[AutoScalingGroupName].refreshes))
        if InstanceRefreshIds:
            refreshes = [r for r in refreshes if r.refresh_id in InstanceRefreshIds]
        if MaxRecords:
            refreshes = refreshes[:MaxRecords]
        return {"InstanceRefreshes": [self._describe_refresh(AutoScalingGroupName, r) for r in refreshes]}

    def start_instance_refresh(
        self,
        AutoScalingGroupName: str,
        Strategy: str = "Rolling",
        DesiredConfiguration: dict[str, Any] | None = None,
        Preferences: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        group = self.groups[AutoScalingGroupName]
        preferences = dict(Preferences or {})
        alarms = (preferences.get("AlarmSpecification") or {}).get("Alarms", [])
        if len(alarms) > REFRESH_ALARMS_MAX:
            raise AwsError(
                "ValidationError", f"You can specify up to {REFRESH_ALARMS_MAX} alarms (got {len(alarms)})."
            )
        if group.active():
            # START_API errors: InstanceRefreshInProgress, one refresh at a time.
            raise AwsError("InstanceRefreshInProgress", "An Instance Refresh is already in progress")
        if preferences.get("AutoRollback"):
            # START_API / ROLLBACK_GUIDE: rollback needs a desired configuration, AWS's own words:
            if not DesiredConfiguration:
                raise AwsError(
                    "ValidationError",
                    "The AutoRollback parameter cannot be set to true when the DesiredConfiguration "
                    "parameter is empty.",
                )
            # PREFERENCES_API AutoRollback: not supported when the group uses $Latest or $Default.
            for configuration in (DesiredConfiguration, group.configuration):
                if str(template_of(configuration).get("Version")) in UNNUMBERED:
                    raise AwsError(
                        "ValidationError",
                        "AutoRollback is not supported with the $Latest or $Default launch template version.",
                    )
        desired = deepcopy(DesiredConfiguration) if DesiredConfiguration else None
        target = version_of(desired) if desired else version_of(group.configuration)
        # SkipMatching (START_API): instances already on the desired launch template are not replaced.
        skip = preferences.get("SkipMatching", False)
        to_replace = [i.instance_id for i in group.instances if not (skip and i.version == target)]
        refresh = Refresh(
            self._next("refresh-"), desired, deepcopy(group.configuration), preferences, to_replace
        )
        group.refreshes.append(refresh)
        self.journal("refresh.start", (AutoScalingGroupName, target))
        return {"InstanceRefreshId": refresh.refresh_id}

    def rollback_instance_refresh(self, AutoScalingGroupName: str) -> dict[str, Any]:
        group = self.groups[AutoScalingGroupName]
        refresh = group.active()
        if refresh is None or refresh.status not in ROLLBACK_FROM:
            # ROLLBACK_GUIDE: a finished refresh cannot be rolled back (start a new one instead).
            raise AwsError(
                "ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found"
            )
        # ROLLBACK_API: not supported without a desired configuration, or on $Latest/$Default.
        if refresh.desired is None or version_of(refresh.previous) in UNNUMBERED:
            raise AwsError("IrreversibleInstanceRefresh", "The instance refresh cannot be rolled back")
        self._roll_back(refresh, "Rollback requested")
        self.journal("refresh.rollback", AutoScalingGroupName)
        return {"InstanceRefreshId": refresh.refresh_id}

    def cancel_instance_refresh(self, AutoScalingGroupName: str) -> dict[str, Any]:
        refresh = self.groups[AutoScalingGroupName].active()
        if refresh is None:
            raise AwsError(
                "ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found"
            )
        # CANCEL_API: replacements stop; instances already replaced stay, nothing is rolled back.
        refresh.status = "Cancelling"
        self.journal("refresh.cancel", AutoScalingGroupName)
        return {"InstanceRefreshId": refresh.refresh_id}

    # --- time ----------------------------------------------------------------------------------------

    def step(self) -> None:
        """One poll interval passes in AWS."""
        for group in self.groups.values():
            refresh = group.active()
            if refresh:
                self._advance(group, refresh)
        self._evaluate_alarms()
        for group in self.groups.values():
            refresh = group.active()
            if refresh and refresh.status == "InProgress":
                self._alarm_check(refresh)

    def _advance(self, group: Group, refresh: Refresh) -> None:
        if refresh.status == "Pending":
            refresh.status = "InProgress"
        elif refresh.status == "Cancelling":
            refresh.status, refresh.reason = "Cancelled", "Instance Refresh was cancelled"
        elif refresh.status == "RollbackInProgress":
            self._undo_one(group, refresh)
        elif refresh.checkpoint_wait:
            refresh.checkpoint_wait -= 1
            refresh.reason = "" if not refresh.checkpoint_wait else refresh.reason
        else:
            self._replace_one(group, refresh)

    def _replace_one(self, group: Group, refresh: Refresh) -> None:
        assert refresh.desired is not None or refresh.to_replace == []
        if refresh.replaced < len(refresh.to_replace):
            old = refresh.to_replace[refresh.replaced]
            template = template_of(refresh.desired or group.configuration)
            new = Instance(self._next("i-"), str(template["Version"]))
            group.instances = [new if i.instance_id == old else i for i in group.instances]
            if (template["LaunchTemplateId"], new.version) in self.failing:
                self._fail(refresh, f"{new.instance_id} failed its health checks")
                return
            refresh.replaced += 1
            if self._checkpoint_reached(refresh):
                refresh.checkpoint_wait = CHECKPOINT_STEPS
                refresh.reason = "Waiting for checkpoint to complete"
            return  # the last replacement warms up for a step before the refresh succeeds
        refresh.status = "Successful"
        if refresh.desired is not None:
            # START_API DesiredConfiguration: "Once the instance refresh succeeds, Amazon EC2 Auto Scaling
            # updates the settings of the Auto Scaling group to reflect the new desired configuration."
            group.configuration = deepcopy(refresh.desired)

    def _checkpoint_reached(self, refresh: Refresh) -> bool:
        reached = [
            p
            for p in refresh.preferences.get("CheckpointPercentages", [])
            if p < 100 and refresh.percentage >= p and p not in refresh.passed_checkpoints
        ]
        refresh.passed_checkpoints.update(reached)
        return bool(reached)

    def _fail(self, refresh: Refresh, why: str) -> None:
        # PREFERENCES_API AutoRollback: roll back "if the instance refresh fails or a CloudWatch alarm
        # threshold is met"; without it the refresh just fails and replaced instances stay.
        if refresh.preferences.get("AutoRollback"):
            self._roll_back(refresh, f"{why}; rolling back")
        else:
            refresh.status, refresh.reason = "Failed", why

    def _roll_back(self, refresh: Refresh, why: str) -> None:
        refresh.status, refresh.reason = "RollbackInProgress", why

    def _undo_one(self, group: Group, refresh: Refresh) -> None:
        """ROLLBACK_GUIDE: "When rolling back, Amazon EC2 Auto Scaling replaces the instances that have been
        deployed so far. The new instances match the configuration that you last saved on the Auto Scaling
        group before starting the instance refresh." """
        previous = version_of(refresh.previous)
        stray = next((i for i in group.instances if i.version != previous), None)
        if stray is None:
            refresh.status, refresh.reason = "RollbackSuccessful", "rolled back to the previous configuration"
            refresh.replaced = 0
            return
        replacement = Instance(self._next("i-"), previous)
        group.instances = [replacement if i is stray else i for i in group.instances]
        refresh.replaced = max(refresh.replaced - 1, 0)  # DESCRIBE_API: "goes back down to zero"

    def _evaluate_alarms(self) -> None:
        running = {
            (template_of(g.configuration)["LaunchTemplateId"], i.version)
            for g in self.groups.values()
            for i in g.instances
        }
        self.firing = {alarm for alarm, trip in self.alarm_rules.items() if trip in running}

    def _alarm_check(self, refresh: Refresh) -> None:
        alarms = set((refresh.preferences.get("AlarmSpecification") or {}).get("Alarms", []))
        firing = sorted(alarms & self.firing)
        if firing:
            # PREFERENCES_API AlarmSpecification: alarms "fail the operation if an alarm threshold is met".
            self._fail(refresh, f"alarm {', '.join(firing)} in ALARM")

    # --- the wire ------------------------------------------------------------------------------------

    def serve(self, client: Any) -> Any:
        """Answer `client`'s Auto Scaling calls from the model, after botocore validated the request."""
        operations: dict[str, Callable[..., dict[str, Any]]] = {
            "DescribeAutoScalingGroups": self.describe_auto_scaling_groups,
            "DescribeInstanceRefreshes": self.describe_instance_refreshes,
            "StartInstanceRefresh": self.start_instance_refresh,
            "RollbackInstanceRefresh": self.rollback_instance_refresh,
            "CancelInstanceRefresh": self.cancel_instance_refresh,
        }

        def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["model_params"] = deepcopy(params)

        def answer(model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            try:
                parsed = operations[model.name](**context["model_params"])
            except AwsError as err:
                error = {"Error": {"Code": err.code, "Message": err.message, "Type": "Sender"}}
                return AWSResponse(None, 400, {}, None), {
                    **error,
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                }
            report = ParamValidator().validate(parsed, model.output_shape)
            assert not report.has_errors(), report.generate_report()
            return AWSResponse(None, 200, {}, None), {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200}}

        client.meta.events.register("before-parameter-build.*.*", keep_params)
        client.meta.events.register_first("before-call.*.*", answer)
        return client

    # --- shapes --------------------------------------------------------------------------------------

    def _describe_group(self, group: Group) -> dict[str, Any]:
        template = template_of(group.configuration)
        return {
            "AutoScalingGroupName": group.name,
            "MinSize": 1,
            "MaxSize": 4,
            "DesiredCapacity": len(group.instances),
            "DefaultCooldown": 300,
            "AvailabilityZones": ["us-east-1a", "us-east-1b"],
            "HealthCheckType": "ELB",
            "CreatedTime": datetime(2026, 1, 1, tzinfo=UTC),
            **deepcopy(group.configuration),
            "Instances": [
                {
                    "InstanceId": i.instance_id,
                    "AvailabilityZone": "us-east-1a",
                    "LifecycleState": i.lifecycle_state,
                    "HealthStatus": i.health_status,
                    "ProtectedFromScaleIn": False,
                    "LaunchTemplate": {
                        "LaunchTemplateId": template["LaunchTemplateId"],
                        "Version": i.version,
                    },
                }
                for i in group.instances
            ],
        }

    def _describe_refresh(self, group: str, refresh: Refresh) -> dict[str, Any]:
        described: dict[str, Any] = {
            "InstanceRefreshId": refresh.refresh_id,
            "AutoScalingGroupName": group,
            "Status": refresh.status,
            "PercentageComplete": refresh.percentage,
            "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
        }
        if refresh.reason:
            described["StatusReason"] = refresh.reason
        if refresh.desired is not None:
            described["DesiredConfiguration"] = deepcopy(refresh.desired)
        return described

    def _next(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:04d}"


class ModelFleet:
    """The pipeline's Fleet port over the model: instances, the web group's targets, alarms in ALARM."""

    def __init__(
        self, model: AutoScalingModel, web_group: str, target_groups: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.web_group = web_group
        self.target_groups = dict(target_groups or {})  # target group ARN -> the group registered in it

    def instances(self, group: str) -> list[GroupInstance]:
        return [
            GroupInstance(i.instance_id, i.lifecycle_state, i.health_status, i.version)
            for i in self.model.groups[group].instances
        ]

    def target_health(self, target_group_arn: str) -> list[TargetHealth]:
        return self.model.target_health(self.target_groups.get(target_group_arn, self.web_group))

    def alarms_firing(self, alarm_names: Iterable[str]) -> list[str]:
        return sorted(self.model.firing & set(alarm_names))
