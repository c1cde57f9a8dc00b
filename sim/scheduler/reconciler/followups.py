"""Delayed follow-up evaluations for allocs that may be replaced later.

Nomad: reconcile_cluster.go, createLaterEvals and createRescheduleLaterEvals. Allocs are sorted
by their reschedule time; those within BATCHED_FAILED_ALLOC_WINDOW of a batch's first time share
its eval. The first eval carries the trigger asked for and the "created for delayed
rescheduling" description; later batches are `alloc-failure` evals without a description, as in
Nomad.
"""

from __future__ import annotations

from dataclasses import replace

from sim.scheduler.reconciler.filters import AllocSet, DelayedReschedule
from sim.scheduler.reconciler.reschedule import BATCHED_FAILED_ALLOC_WINDOW
from sim.scheduler.reconciler.results import ReconcileContext, ReconcileResults
from sim.structs.consts import (
    EVAL_STATUS_PENDING,
    RESCHEDULING_FOLLOWUP_EVAL_DESC,
    TRIGGER_ALLOC_RESCHEDULE,
    TRIGGER_RETRY_FAILED_ALLOC,
)
from sim.structs.evaluation import Evaluation


def create_later_evals(
    ctx: ReconcileContext, later: list[DelayedReschedule], triggered_by: str
) -> tuple[dict[str, str], list[Evaluation]]:
    """(alloc ID -> follow-up eval ID, the follow-up evals). Nomad: createLaterEvals."""
    if not later:
        return {}, []
    ordered = sorted(later, key=lambda info: info.reschedule_time)
    batch_start = ordered[0].reschedule_time
    evals = [_followup_eval(ctx, triggered_by, batch_start, RESCHEDULING_FOLLOWUP_EVAL_DESC)]
    mapping: dict[str, str] = {}
    for info in ordered:
        if info.reschedule_time - batch_start >= BATCHED_FAILED_ALLOC_WINDOW:
            batch_start = info.reschedule_time
            evals.append(_followup_eval(ctx, TRIGGER_RETRY_FAILED_ALLOC, batch_start, ""))
        mapping[info.alloc.id] = evals[-1].id
    return mapping, evals


def _followup_eval(
    ctx: ReconcileContext, triggered_by: str, wait_until: float, description: str
) -> Evaluation:
    job = ctx.job
    return Evaluation(
        id=ctx.new_id(),
        namespace=job.namespace,
        priority=ctx.eval_priority,
        type=job.type,
        triggered_by=triggered_by,
        job_id=job.id,
        job_modify_index=job.modify_index,
        status=EVAL_STATUS_PENDING,
        status_description=description,
        wait_until=wait_until,
        previous_eval=ctx.eval_id,
    )


def create_reschedule_later_evals(
    ctx: ReconcileContext,
    later: list[DelayedReschedule],
    allocs: AllocSet,
    migrate: AllocSet,
    group: str,
    result: ReconcileResults,
) -> None:
    """Create the delayed evals and mark each alloc with its follow-up eval ID.

    The mark is an attribute update (a copy of the alloc) except for migrating allocs, whose
    stop carries it instead. Nomad: createRescheduleLaterEvals.
    """
    mapping, evals = create_later_evals(ctx, later, TRIGGER_ALLOC_RESCHEDULE)
    updates = {}
    for info in later:
        alloc_id = info.alloc.id
        if alloc_id in migrate:
            migrate[alloc_id] = replace(migrate[alloc_id], followup_eval_id=mapping[alloc_id])
        else:
            updates[alloc_id] = replace(allocs[alloc_id], followup_eval_id=mapping[alloc_id])
    result.attribute_updates = updates
    result.desired_followup_evals.setdefault(group, []).extend(evals)
    result.desired_tg_updates[group].reschedule_later = len(later)
