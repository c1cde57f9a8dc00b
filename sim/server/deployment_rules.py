"""The deployment watcher's pure rules: progress cutoff, done and failed groups, promotion checks,
rollback descriptions and the job's latest eval index.

Nomad: nomad/deploymentwatcher/deployment_watcher.go (getDeploymentProgressCutoff, doneGroups,
shouldFail, handleRollbackValidity, jobEvalStatus) and nomad/state/state_store.go
(UpdateDeploymentPromotion's checks). No clock, no I/O: the watcher passes what they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sim.structs.alloc import Allocation
from sim.structs.codec import jobs_spec_equal
from sim.structs.consts import EVAL_STATUS_CANCELLED
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job


@dataclass(slots=True)
class AllocVerdict:
    """What a deployment's allocs ask of the watcher. Nomad: allocUpdateResult."""

    create_eval: bool = False
    fail: bool = False
    rollback: bool = False
    allow_replacements: tuple[str, ...] = ()


def done_groups(dep: Deployment, allocs: Iterable[Allocation]) -> dict[str, bool]:
    """Per group: promoted (or without canaries) and enough healthy live allocs.

    Nomad: deploymentWatcher.doneGroups.
    """
    healthy: dict[str, int] = {}
    for alloc in allocs:
        if not alloc.terminal() and alloc.is_healthy():
            healthy[alloc.task_group] = healthy.get(alloc.task_group, 0) + 1
    return {
        name: not (g.desired_canaries != 0 and not g.promoted) and healthy.get(name, 0) >= g.desired_total
        for name, g in dep.task_groups.items()
    }


def progress_cutoff(dep: Deployment, done: dict[str, bool]) -> float:
    """The earliest RequireProgressBy of a group not done yet; 0 when none is set.

    Nomad: deploymentWatcher.getDeploymentProgressCutoff.
    """
    pending = [g.require_progress_by for name, g in dep.task_groups.items()
               if not done.get(name, False) and g.require_progress_by > 0]
    return min(pending, default=0.0)


def group_should_fail(group: DeploymentState) -> bool:
    """At the deadline: too few healthy canaries (unpromoted) or allocs. Nomad: shouldFail."""
    if group.desired_canaries > 0 and not group.promoted:
        return group.healthy_allocs < group.desired_canaries
    return group.healthy_allocs < group.desired_total


def promotion_errors(dep: Deployment, allocs: Iterable[Allocation], groups: list[str] | None) -> list[str]:
    """Groups being promoted that lack healthy live canaries, as Nomad words it.

    `groups` None promotes every group. Nomad: StateStore.UpdateDeploymentPromotion.
    """
    wanted = set(groups) if groups else None
    canaries = {c for g in dep.task_groups.values() for c in g.placed_canaries}
    healthy: dict[str, int] = {}
    for alloc in allocs:
        if alloc.id not in canaries or (wanted is not None and alloc.task_group not in wanted):
            continue
        if not alloc.terminal() and alloc.is_healthy():
            healthy[alloc.task_group] = healthy.get(alloc.task_group, 0) + 1
    errors = []
    for name, group in sorted(dep.task_groups.items()):
        if (wanted is not None and name not in wanted) or group.desired_canaries == 0:
            continue
        have = healthy.get(name, 0)
        if have < group.desired_canaries:
            errors.append(f'Task group "{name}" has {have}/{group.desired_canaries} healthy allocations')
    return errors


def rollback_description(base: str, current: Job | None, stable: Job | None) -> tuple[str, bool]:
    """(the failure description, whether to re-register `stable`).

    Nomad: the watch loop's rollback branch and handleRollbackValidity: no stable version, or a
    stable version with the current spec (reverting would loop), means no rollback.
    """
    if stable is None:
        return f"{base} - no stable job version to auto revert to", False
    if current is not None and jobs_spec_equal(current, stable):
        return (f"{base} - not rolling back to stable job version {stable.version} "
                "as current job has same specification"), False
    return f"{base} - rolling back to job version {stable.version}", True


def latest_eval_index(evals: Iterable[Evaluation]) -> int:
    """The newest index the scheduler has seen for the job. Nomad: deploymentWatcher.jobEvalStatus."""
    latest = 0
    for ev in evals:
        if ev.status == EVAL_STATUS_CANCELLED:
            continue
        if ev.snapshot_index != 0 and latest < ev.snapshot_index:
            latest = ev.snapshot_index
        elif latest < ev.create_index:
            latest = ev.create_index
    return latest


def multierror(errors: list[str]) -> str:
    """hashicorp/go-multierror's list format, as Nomad's RPC errors print it."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"
