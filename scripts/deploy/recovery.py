"""What a deploy does once a step has failed or been interrupted: say what state the stack is in and, when
the new version may already serve, put the previous one back.

Nothing in the stack changes before `update`, so a failure there only stops. From `update` on:
- `update` itself failed: the previous tag goes back in config and any refresh is stopped; no second `up`.
- later (`rollout`, `smoke`): every instance goes back to the launch template version recorded in the plan.
  A refresh the rollout rolled back is already there; one that succeeded cannot be rolled back, so a new
  refresh goes back to the recorded version
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html).
Only a DeployError reaches here; any other exception is a bug and is never answered with a rollback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.events import utc_now
from scripts.deploy.ports import HistoryEntry
from scripts.exit_codes import ExitCode

if TYPE_CHECKING:
    from scripts.deploy.pipeline import Deployment, DeployPlan, Progress, StackOutputs

# The steps from which the new version may be serving: a failure in them is rolled back.
LIVE_STEPS = frozenset({"update", "rollout", "smoke", "static"})


class Recovery:
    def __init__(self, run: Deployment, progress: Progress) -> None:
        self.run = run
        self.plan = progress.plan
        # The freshest outputs: after `up` they name what it made (a replaced group, a new alarm).
        self.outputs = progress.deployed or (progress.plan.outputs if progress.plan else None)

    def _summary(self, message: str) -> dict[str, Any]:
        """The tags and, for CI, what went wrong in one field (`account` tells the whole story)."""
        tags = self.plan.summary() if self.plan else {"imageTag": "", "previousTag": None}
        return {**tags, "message": message}

    @property
    def _previous(self) -> str | None:
        return self.plan.previous if self.plan else None

    def failed(self, err: DeployError) -> ExitCode:
        run, failed_step = self.run, self.run.step
        run.emit("failed", err.message)
        run.account.append(f"{failed_step} failed: {err.message}")
        if failed_step not in LIVE_STEPS or self.plan is None or self.outputs is None:
            run.account.append(
                f"Nothing in the stack changed; it still runs {self._previous or 'what it ran'}."
            )
            return run.finish(err.code, f"{failed_step} failed", self._summary(err.message))
        if not self.plan.previous:
            run.account.append(
                "No previous tag is known, so nothing was rolled back; the stack is left as is."
            )
            return run.finish(err.code, f"{failed_step} failed", self._summary(err.message))
        if failed_step == "update":
            return self._revert_update(err, self.plan.previous, self.outputs)
        return self._roll_back(err, self.plan, self.plan.previous, self.outputs)

    def _roll_back(
        self, err: DeployError, plan: DeployPlan, previous: str, outputs: StackOutputs
    ) -> ExitCode:
        run = self.run
        run.step = "rollback"
        run.emit("started", f"rolling back to {previous}")
        try:
            with aws_errors(ExitCode.ROLLBACK_FAILED, "rolling back"):
                self._restore(plan, previous, outputs)
        except DeployError as rollback_err:
            run.emit("failed", rollback_err.message)
            run.account.append(
                f"Rolling back to {previous} failed too: {rollback_err.message} "
                "Look now: `scalestack status --stack " + run.stack_name + "`."
            )
            both = f"{err.message}; rolling back failed too: {rollback_err.message}"
            return run.finish(ExitCode.ROLLBACK_FAILED, "rollback failed", self._summary(both))
        run.emit("succeeded", f"{previous} is back in service")
        run.account.append(
            f"Rolled back: {previous} is back in service on every instance and the "
            f"stack's image tag is {previous} again; {plan.tag} stays in ECR."
        )
        run.record_history(
            lambda: run.ports.history.record(HistoryEntry(previous, utc_now(), "rollback", run.request.actor))
        )
        return run.finish(ExitCode.ROLLED_BACK, "rolled back", self._summary(err.message))

    def _restore(self, plan: DeployPlan, previous: str, outputs: StackOutputs) -> None:
        """Every instance back on the version recorded before `up`, and `previous` back in the config."""
        rollout = self.run.rollout(outputs, restoring=True)
        rollout.abort_active()
        self.run.ports.stack.set_image_tag(previous)
        ids = rollout.restore(plan.saved)
        if ids:
            rollout.follow(ids)
        else:
            rollout.wait_healthy()

    def _revert_update(self, err: DeployError, previous: str, outputs: StackOutputs) -> ExitCode:
        """`up` failed part-way: put the old tag back in config and stop any refresh the update started.
        No second `up`: the failure that stopped the first would most likely stop it too."""
        run = self.run
        run.step = "rollback"
        run.emit("started", f"restoring {previous}")
        try:
            with aws_errors(ExitCode.ROLLBACK_FAILED, "reverting the update"):
                run.ports.stack.set_image_tag(previous)
                run.rollout(outputs).abort_active()
        except DeployError as revert_err:
            run.emit("failed", revert_err.message)
            run.account.append(f"Reverting failed too: {revert_err.message}")
            both = f"{err.message}; reverting failed too: {revert_err.message}"
            return run.finish(ExitCode.ROLLBACK_FAILED, "rollback failed", self._summary(both))
        run.emit("succeeded", f"image tag {previous} restored in config; no refresh left running")
        run.account.append(
            f"The stack's image tag is {previous} again and no refresh is running; resources "
            "the update changed before it failed stay changed until the next `up`."
        )
        return run.finish(err.code, "update failed", self._summary(err.message))

    def interrupted(self) -> ExitCode:
        """Ctrl-C: nothing is undone (a half-finished undo is worse); the account says where things are."""
        run = self.run
        tag = self.plan.tag if self.plan else ""
        where = {
            "update": f"`pulumi up` was interrupted: the engine finishes the operations in flight, so the "
            f"stack may be partly updated with image tag {tag} in config. Run `scalestack status "
            f"--stack {run.stack_name}`, then deploy again or `scalestack rollback`.",
            "rollout": f"The instance refresh keeps going in AWS (auto rollback on). Follow it with "
            f"`scalestack status --stack {run.stack_name}`; stop it with `scalestack rollback`.",
            "smoke": f"{tag} is live; its smoke test did not finish.",
            "static": f"{tag} is live and passed its smoke test; static files may be partly published.",
        }
        state = where.get(
            run.step,
            f"Stopped before the stack changed; it still runs {self._previous}."
            + (
                " The migrate command may still finish on the instance (harmless: expand-only)."
                if run.step == "migrate"
                else ""
            ),
        )
        run.emit("failed", f"interrupted: {state}")
        run.account.append(f"Interrupted during {run.step}. {state}")
        return run.finish(ExitCode.INTERRUPTED, "interrupted", self._summary(f"interrupted: {state}"))
