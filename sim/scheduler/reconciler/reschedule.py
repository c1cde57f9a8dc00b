"""When a failed allocation may be replaced: delays, attempt limits and the reschedule tracker.

Nomad keeps this on the Allocation (nomad/structs/alloc.go NextRescheduleTime, NextDelay), the
RescheduleTracker (structs.go) and the scheduler (reconciler/filters.go updateByReschedulable,
generic_sched.go UpdateRescheduleTracker). Job specs hold durations in integer nanoseconds; every
time and delay here is float simulated seconds. The policy used is always the one of the job
version the alloc runs (`alloc.job`), as in Nomad.

Not modelled: Nomad tells a tracker with nil Events from one with an empty list; here an empty
tracker always counts as "no previous attempts".
"""

from __future__ import annotations

from sim.structs.alloc import Allocation, RescheduleEvent
from sim.structs.consts import (
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_DESIRED_EVICT,
    ALLOC_DESIRED_STOP,
    JOB_TYPE_BATCH,
)
from sim.structs.deployment import Deployment
from sim.structs.job import ReschedulePolicy

NS = 1e9
RESCHEDULE_WINDOW = 1.0  # rescheduleWindowSize: "now" if due within this many seconds
BATCHED_FAILED_ALLOC_WINDOW = 5.0  # batchedFailedAllocWindowSize
MAX_PAST_RESCHEDULE_EVENTS = 5  # maxPastRescheduleEvents (unlimited policies)
LAST_RESCHEDULE_OK = "ok"
LAST_RESCHEDULE_FAILED_TO_PLACE = "no placement"


def reschedule_policy_of(alloc: Allocation) -> ReschedulePolicy | None:
    """Nomad: Allocation.ReschedulePolicy: the policy of the alloc's own job version."""
    tg = alloc.job.lookup_task_group(alloc.task_group) if alloc.job is not None else None
    return None if tg is None else tg.reschedule_policy


def fail_time(alloc: Allocation) -> float:
    """Nomad: Allocation.LastEventTime: latest task FinishedAt, else the alloc's ModifyTime."""
    return alloc.finished_at()


def last_reschedule_failed(alloc: Allocation) -> bool:
    """Nomad: Allocation.LastRescheduleFailed: a replacement was tried and found no node."""
    return alloc.last_reschedule not in ("", LAST_RESCHEDULE_OK)


def reschedule_info(
    events: list[RescheduleEvent], policy: ReschedulePolicy | None, failed_at: float
) -> tuple[int, int]:
    """(attempts made within the interval before `failed_at`, attempts allowed).

    Nomad: structs.go, RescheduleTracker.rescheduleInfo.
    """
    if policy is None:
        return 0, 0
    interval = policy.interval / NS
    attempted = 0
    if policy.attempts > 0:
        attempted = sum(1 for e in events if failed_at - e.reschedule_time < interval)
    return attempted, policy.attempts


def reschedule_eligible(
    events: list[RescheduleEvent], policy: ReschedulePolicy | None, failed_at: float
) -> bool:
    """Nomad: structs.go, RescheduleTracker.RescheduleEligible."""
    if policy is None or not (policy.attempts > 0 or policy.unlimited):
        return False
    if policy.unlimited or not events:
        return True
    attempted, attempts = reschedule_info(events, policy, failed_at)
    return attempted < attempts


def should_reschedule(alloc: Allocation, failed_at: float) -> bool:
    """Whether a failed alloc may be replaced at all (the client's alloc-failure eval test).

    Nomad: alloc.go, Allocation.ShouldReschedule.
    """
    if alloc.desired_status in (ALLOC_DESIRED_STOP, ALLOC_DESIRED_EVICT):
        return False
    if alloc.client_status != ALLOC_CLIENT_FAILED:
        return False
    return reschedule_eligible(alloc.reschedule_tracker, reschedule_policy_of(alloc), failed_at)


def next_delay(alloc: Allocation, policy: ReschedulePolicy | None = None) -> float:
    """Seconds to wait before the next replacement of `alloc`, by its delay function.

    constant: Delay. exponential: last delay x 2. fibonacci: sum of the last two delays (a new
    series starts after a reset). Capped at MaxDelay; once capped, the delay resets to Delay if
    the alloc ran longer than the capped delay since its last reschedule.
    `policy` defaults to the alloc's own (Nomad always uses that one).
    Nomad: alloc.go, Allocation.NextDelay.
    """
    policy = policy if policy is not None else reschedule_policy_of(alloc)
    if policy is None:
        return 0.0
    base = policy.delay / NS
    events = alloc.reschedule_tracker
    if not events:
        return base
    if policy.delay_function == "exponential":
        delay = events[-1].delay * 2
    elif policy.delay_function == "fibonacci":
        delay = _fibonacci_delay(events, policy, base)
    else:
        return base
    max_delay = policy.max_delay / NS
    if max_delay > 0 and delay > max_delay:
        delay = max_delay
        if fail_time(alloc) - events[-1].reschedule_time > delay:
            delay = base
    return delay


def _fibonacci_delay(events: list[RescheduleEvent], policy: ReschedulePolicy, base: float) -> float:
    if len(events) < 2:
        return base
    n1, n2 = events[-1].delay, events[-2].delay
    if n2 == policy.max_delay / NS and n1 == base:
        return n1  # the ceiling was reset: a new series starts
    return n1 + n2


def next_reschedule_time(alloc: Allocation) -> tuple[float, bool]:
    """(time the alloc may be replaced, whether the policy still allows it).

    Nomad: alloc.go, Allocation.NextRescheduleTime.
    """
    policy = reschedule_policy_of(alloc)
    if policy is None or (policy.attempts == 0 and not policy.unlimited):
        return 0.0, False
    rescheduled_batch = alloc.job.type == JOB_TYPE_BATCH and alloc.desired_transition.reschedule
    if alloc.desired_status == ALLOC_DESIRED_STOP and not last_reschedule_failed(alloc):
        return 0.0, False
    if not rescheduled_batch and alloc.client_status not in (
        ALLOC_CLIENT_FAILED,
        ALLOC_CLIENT_LOST,
    ):
        return 0.0, False
    return next_reschedule_time_at(alloc, fail_time(alloc))


def next_reschedule_time_at(alloc: Allocation, failed_at: float) -> tuple[float, bool]:
    """Like next_reschedule_time for a given failure time, without the status checks.

    Nomad: alloc.go, Allocation.NextRescheduleTimeByTime / nextRescheduleTime.
    """
    policy = reschedule_policy_of(alloc)
    if policy is None:
        return 0.0, False
    delay = next_delay(alloc)
    events = alloc.reschedule_tracker
    eligible = policy.unlimited or policy.attempts > 0
    if policy.attempts > 0 and events:
        attempted, attempts = reschedule_info(events, policy, failed_at)
        eligible = attempted < attempts and delay < policy.interval / NS
    return failed_at + delay, eligible


def reschedule_decision(
    alloc: Allocation, now: float, eval_id: str, deployment: Deployment | None
) -> tuple[bool, bool, float]:
    """(reschedule now, reschedule later, reschedule time) for a candidate failed alloc.

    Allocs of the active deployment wait for the deployment watcher's Reschedule mark. A forced
    reschedule of a client-terminal alloc is always "now". Otherwise "now" when due within
    RESCHEDULE_WINDOW or when this eval is the alloc's follow-up eval, and "later" (a delayed
    eval) when eligible and no follow-up eval exists yet.
    Nomad: reconciler/filters.go, updateByReschedulable (connected clients).
    """
    if (
        deployment is not None
        and alloc.deployment_id == deployment.id
        and deployment.active()
        and not alloc.desired_transition.reschedule
    ):
        return False, False, 0.0
    forced = alloc.desired_transition.force_reschedule and alloc.client_terminal()
    when, eligible = next_reschedule_time(alloc)
    if eligible and (alloc.followup_eval_id == eval_id or when - now <= RESCHEDULE_WINDOW):
        return True, False, when
    later = eligible and alloc.followup_eval_id == ""
    return forced, later and not forced, when


def new_reschedule_tracker(prev: Allocation, now: float) -> list[RescheduleEvent]:
    """The tracker of a replacement for `prev` placed at `now`: past events plus this one.

    With a limited policy only events within the interval are carried over; with an unlimited
    one the last MAX_PAST_RESCHEDULE_EVENTS. The caller also sets `prev.last_reschedule` to
    LAST_RESCHEDULE_OK on its (copied) previous alloc, or LAST_RESCHEDULE_FAILED_TO_PLACE when no
    node was found.
    Nomad: scheduler/generic_sched.go, UpdateRescheduleTracker.
    """
    policy = reschedule_policy_of(prev)
    events = prev.reschedule_tracker
    if policy is not None and policy.attempts > 0:
        interval = policy.interval / NS
        kept = [e for e in events if interval > 0 and now - e.reschedule_time <= interval]
    else:
        kept = events[-MAX_PAST_RESCHEDULE_EVENTS:]
    event = RescheduleEvent(
        reschedule_time=now,
        prev_alloc_id=prev.id,
        prev_node_id=prev.node_id,
        delay=next_delay(prev),
    )
    return [
        RescheduleEvent(e.reschedule_time, e.prev_alloc_id, e.prev_node_id, e.delay) for e in kept
    ] + [event]
