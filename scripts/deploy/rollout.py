"""Instance refreshes of every service's group: start them, follow them, gate them, undo them.

Every refresh names its DesiredConfiguration, a numbered launch template version; the group's saved
configuration stays the previous version until the refresh succeeds, so a rollback returns every instance
to it. AWS does the replacing (min healthy percentage, warm-up, checkpoints, auto rollback on failure or on
the stack's alarms). This module adds what AWS cannot know: at each checkpoint each web service's target group
must be healthy and no alarm may fire, and one group failing rolls back the others, so no two services end
up on different versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from scripts.deploy.errors import DeployError
from scripts.deploy.events import Status
from scripts.deploy.ports import (
    ACTIVE_REFRESH,
    Clock,
    Fleet,
    GroupConfiguration,
    InstanceRefreshes,
    RefreshState,
    RolloutPreferences,
    TemplateVersion,
)
from scripts.exit_codes import ExitCode

EmitFn = Callable[[Status, str, dict[str, Any]], None]
FAILED = frozenset({"Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"})
DONE = frozenset({"Successful"}) | FAILED


def _reason(state: RefreshState) -> str:
    return f": {state.reason}" if state.reason else ""


@dataclass(frozen=True)
class RolloutTiming:
    poll_seconds: float = 15.0
    timeout_seconds: float = 3600.0
    health_timeout_seconds: float = 600.0
    # After "Failed", AWS auto rollback moves the refresh to RollbackInProgress within a poll or two.
    failed_grace_polls: int = 3


@dataclass(frozen=True)
class RolloutTarget:
    groups: Mapping[str, str]  # service (web, worker, ...) -> auto scaling group name
    target_group_arns: Mapping[str, str]  # web service -> its target group, judged at each checkpoint
    alarm_names: Mapping[
        str, Sequence[str]
    ]  # role -> the alarms that stop its refresh and fail its checkpoints
    preferences: Mapping[str, RolloutPreferences]  # role -> how its refresh replaces instances
    undo_on_failure: bool = True
    """Roll a failing refresh back (and the other group's with it). Off for a refresh that restores the
    previous version: its rollback would return to the version being undone."""

    def only(self, service: str) -> RolloutTarget:
        """One service's group alone (`scalestack deploy --service NAME`)."""
        return replace(
            self,
            groups={service: self.groups[service]},
            target_group_arns={k: v for k, v in self.target_group_arns.items() if k == service},
        )

    def restoring(self) -> RolloutTarget:
        """The same groups, refreshed back in one pass: no checkpoints, no alarms, no rollback."""
        return replace(
            self,
            alarm_names={},
            preferences={role: replace(p, checkpoint_percentages=()) for role, p in self.preferences.items()},
            undo_on_failure=False,
        )


@dataclass
class _Tracked:
    group: str
    refresh_id: str
    last: tuple[str, int] | None = None
    failed_polls: int = 0
    gated: set[int] = field(default_factory=set)


class Rollout:
    def __init__(
        self,
        refreshes: InstanceRefreshes,
        fleet: Fleet,
        clock: Clock,
        target: RolloutTarget,
        timing: RolloutTiming,
        emit: EmitFn,
    ) -> None:
        self._refreshes = refreshes
        self._fleet = fleet
        self._clock = clock
        self._target = target
        self._timing = timing
        self._emit = emit
        self._undone: set[str] = set()  # groups whose refresh this rollout rolled back or cancelled

    def saved(self) -> dict[str, GroupConfiguration]:
        """Each group's saved configuration, read before `up`: the version a rollback returns to."""
        return {role: self._refreshes.configuration(group) for role, group in self._target.groups.items()}

    def active(self) -> dict[str, RefreshState]:
        found = {role: self._refreshes.latest(group) for role, group in self._target.groups.items()}
        return {role: state for role, state in found.items() if state and state.status in ACTIVE_REFRESH}

    def begin(self, templates: Mapping[str, TemplateVersion]) -> dict[str, str]:
        """Start a refresh towards each group's template version; a group already on it needs none."""
        ids: dict[str, str] = {}
        for role, group in self._target.groups.items():
            current = self._refreshes.configuration(group)
            if current.template == templates[role]:
                self._emit(
                    "progress",
                    f"{role}: already on launch template version {current.template.version}",
                    {"group": group, "version": current.template.version},
                )
                continue
            ids[role] = self._start(role, group, current.with_template(templates[role]))
        return ids

    def restore(self, saved: Mapping[str, GroupConfiguration]) -> dict[str, str]:
        """Start a refresh back to the saved configuration on each group that is not all on it.

        A refresh that already ended cannot be rolled back; a new one whose desired configuration is the
        previous version is how AWS documents going back
        (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html).
        """
        ids: dict[str, str] = {}
        for role, group in self._target.groups.items():
            version = saved[role].template.version
            stray = [i for i in self._fleet.instances(group) if i.launch_template_version != version]
            if self._refreshes.configuration(group).template == saved[role].template and not stray:
                continue
            ids[role] = self._start(role, group, saved[role])
        return ids

    def _start(self, role: str, group: str, desired: GroupConfiguration) -> str:
        target = self._target
        refresh_id = self._refreshes.start(
            group,
            desired,
            target.preferences[role],
            target.alarm_names.get(role, ()),
            auto_rollback=target.undo_on_failure,
        )
        self._emit(
            "progress",
            f"{role}: started refresh {refresh_id} to launch template version {desired.template.version}",
            {"group": group, "refreshId": refresh_id, "version": desired.template.version},
        )
        return refresh_id

    def follow(self, ids: Mapping[str, str]) -> None:
        """Poll until every refresh has ended; raise ROLLOUT_FAILED with the story if any did not succeed."""
        tracked = {role: _Tracked(self._target.groups[role], rid) for role, rid in ids.items()}
        problems: list[str] = []
        deadline = self._clock.monotonic() + self._timing.timeout_seconds
        timed_out = False
        pending = list(tracked)
        while True:
            pending = [role for role in pending if not self._settled(role, tracked[role], problems)]
            if not pending:
                break
            if self._clock.monotonic() > deadline:
                if timed_out:  # the rollback we asked for did not end either: stop watching, say so
                    problems.append("the rollback of the timed-out refresh did not finish either")
                    break
                timed_out = True
                problems.append(f"the rollout did not finish within {self._timing.timeout_seconds:.0f}s")
                self._roll_back_active({r: tracked[r].group for r in pending}, "timed out")
                deadline = self._clock.monotonic() + self._timing.timeout_seconds
            self._clock.sleep(self._timing.poll_seconds)
        if problems:
            raise DeployError(ExitCode.ROLLOUT_FAILED, "; ".join(problems))
        self.wait_healthy()

    def _settled(self, role: str, t: _Tracked, problems: list[str]) -> bool:
        state = self._refreshes.get(t.group, t.refresh_id)
        if t.last != (state.status, state.percentage):
            t.last = (state.status, state.percentage)
            reason = f" ({state.reason})" if state.reason else ""
            status: Status = "failed" if state.status in FAILED else "progress"
            self._emit(
                status,
                f"{role}: {state.status} {state.percentage}%{reason}",
                {
                    "group": t.group,
                    "refreshId": t.refresh_id,
                    "refreshStatus": state.status,
                    "percentage": state.percentage,
                },
            )
        if state.status == "Failed":
            t.failed_polls += 1
            if t.failed_polls == 1:
                problems.append(
                    f"{role} refresh {t.refresh_id} failed at {state.percentage}%{_reason(state)}"
                )
                self._roll_back_active(self._others(t.group), f"{role} failed")
            return t.failed_polls > self._timing.failed_grace_polls
        if state.status in FAILED or state.status == "RollbackInProgress":
            # AWS rolling a refresh back (its auto rollback on failure or alarm) is a failure already: the
            # other group goes back now rather than after this rollback ends. A group we rolled back
            # because of the other one is not a second problem.
            if t.group not in self._undone and not any(p.startswith(f"{role} ") for p in problems):
                problems.append(
                    f"{role} refresh {t.refresh_id} {state.status} at {state.percentage}%{_reason(state)}"
                )
                self._roll_back_active(self._others(t.group), f"{role} {state.status}")
            return state.status in FAILED
        if state.status == "InProgress" and role in self._target.target_group_arns:
            self._gate(role, t, state, problems)
        return state.status in DONE

    def _others(self, group: str) -> dict[str, str]:
        return {r: g for r, g in self._target.groups.items() if g != group}

    def _gate(self, role: str, t: _Tracked, state: RefreshState, problems: list[str]) -> None:
        """At each checkpoint, hold a web service's new instances to its load balancer's and the alarms'
        verdict."""
        reached = [
            p
            for p in self._target.preferences[role].checkpoint_percentages
            if p < 100 and state.percentage >= p and p not in t.gated
        ]
        if not reached:
            return
        t.gated.update(reached)
        verdict = self._health_problems(role)
        if not verdict:
            self._emit(
                "progress",
                f"{role}: checkpoint {max(reached)}% passed: targets healthy, no alarm firing",
                {"checkpoint": max(reached)},
            )
            return
        problems.append(f"{role} checkpoint {max(reached)}% failed: {verdict}")
        self._emit(
            "failed",
            f"{role}: checkpoint {max(reached)}% failed: {verdict}; rolling back",
            {"checkpoint": max(reached)},
        )
        self._roll_back_active(self._target.groups, "checkpoint failed")

    def _health_problems(self, role: str) -> str:
        targets = self._fleet.target_health(self._target.target_group_arns[role])
        unhealthy = [
            f"{t.target_id} {t.state}{' (' + t.reason + ')' if t.reason else ''}"
            for t in targets
            if t.state in {"unhealthy", "unavailable"}
        ]
        firing = self._fleet.alarms_firing(self._target.alarm_names.get(role, ()))
        parts = ([f"unhealthy targets: {', '.join(unhealthy)}"] if unhealthy else []) + (
            [f"alarms in ALARM: {', '.join(firing)}"] if firing else []
        )
        return "; ".join(parts)

    def _roll_back_active(self, groups: Mapping[str, str], why: str) -> None:
        if not self._target.undo_on_failure:
            return
        for role, group in groups.items():
            state = self._refreshes.latest(group)
            if state and state.status in {"Pending", "InProgress", "Baking"}:
                self._undo(role, group, why)

    def _undo(self, role: str, group: str, why: str) -> None:
        """Roll back (instances return to the previous launch template); cancel when AWS cannot roll back."""
        self._undone.add(group)
        try:
            rid = self._refreshes.rollback(group)
            self._emit(
                "progress", f"{role}: rolling back refresh ({why})", {"group": group, "refreshId": rid}
            )
        except ClientError as err:
            rid = self._refreshes.cancel(group)
            self._emit(
                "warning",
                f"{role}: rollback refused ({err}); cancelled refresh {rid} instead",
                {"group": group, "refreshId": rid},
            )

    def abort_active(self) -> None:
        """Undo whatever refresh is running (before redeploying an older tag) and wait until it ends."""
        active = self.active()
        for role, state in active.items():
            if state.status in {"Pending", "InProgress", "Baking"}:
                self._undo(role, self._target.groups[role], "rollback requested")
        if active:
            deadline = self._clock.monotonic() + self._timing.timeout_seconds
            while self.active():
                if self._clock.monotonic() > deadline:
                    raise DeployError(ExitCode.ROLLBACK_FAILED, "the running refresh did not stop in time")
                self._clock.sleep(self._timing.poll_seconds)

    def wait_healthy(self) -> None:
        """After the refresh: every registered target of each web service healthy, none still starting or
        draining."""
        for role, arn in self._target.target_group_arns.items():
            self._wait_healthy(role, arn)

    def _wait_healthy(self, role: str, target_group_arn: str) -> None:
        deadline = self._clock.monotonic() + self._timing.health_timeout_seconds
        while True:
            targets = self._fleet.target_health(target_group_arn)
            states = [t.state for t in targets]
            if targets and all(s == "healthy" for s in states):
                self._emit("progress", f"{role} targets: {len(targets)} healthy", {"healthy": len(targets)})
                return
            if self._clock.monotonic() > deadline:
                counts = {s: states.count(s) for s in sorted(set(states))} or {"registered": 0}
                raise DeployError(
                    ExitCode.ROLLOUT_FAILED,
                    f"{role} targets not all healthy after {self._timing.health_timeout_seconds:.0f}s: "
                    + ", ".join(f"{n} {s}" for s, n in counts.items()),
                )
            self._clock.sleep(self._timing.poll_seconds)
