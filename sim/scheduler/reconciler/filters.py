"""Alloc sets and the filters that sort a group's allocs into what the reconciler acts on.

Nomad: scheduler/reconciler/filters.go and allocs.go (allocSet). A set is a dict id -> alloc in
the order the allocs were given, so every iteration is deterministic; `name_order` gives the
order Nomad uses where order matters (lowest name index first).

Not modelled (no AllocStates on our allocs): reconnecting allocs, `disconnect.lost_after`
expiry and the disconnecting/unknown transition. Allocs on a disconnected node are lost unless
already `unknown` (kept as they are when the scheduler supports disconnected clients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sim.scheduler.reconciler.reschedule import last_reschedule_failed, reschedule_decision
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_UNKNOWN,
    ALLOC_DESIRED_EVICT,
    ALLOC_DESIRED_RUN,
    ALLOC_DESIRED_STOP,
    CLIENT_TERMINAL,
    JOB_TYPE_BATCH,
    NODE_STATUS_DISCONNECTED,
    NODE_STATUS_DOWN,
    NODE_STATUS_READY,
    SERVER_TERMINAL,
    TASK_STATE_DEAD,
)
from sim.structs.deployment import Deployment
from sim.structs.job import SECOND, Job
from sim.structs.node import Node

AllocSet = dict[str, Allocation]
DEFAULT_KILL_TIMEOUT = 5 * SECOND  # structs.DefaultKillTimeout


@dataclass(slots=True)
class DelayedReschedule:
    """An alloc that may be replaced at `reschedule_time`. Nomad: delayedRescheduleInfo."""

    alloc: Allocation
    reschedule_time: float


def union(*sets: AllocSet) -> AllocSet:
    """Nomad: allocSet.union (later sets win on conflicts)."""
    out: AllocSet = {}
    for s in sets:
        out.update(s)
    return out


def difference(base: AllocSet, *others: AllocSet) -> AllocSet:
    """Nomad: allocSet.difference (a copy of `base` in its order, the others' keys dropped)."""
    out = dict(base)
    for other in others:
        for key in other:
            out.pop(key, None)
    return out


def from_keys(base: AllocSet, keys: Iterable[str]) -> AllocSet:
    """Nomad: allocSet.fromKeys."""
    return {k: base[k] for k in keys if k in base}


def name_order(allocs: AllocSet) -> list[Allocation]:
    """Nomad: allocSet.nameOrder: by name index, lowest first (stable)."""
    return sorted(allocs.values(), key=Allocation.index)


def filter_server_terminal_allocs(allocs: AllocSet) -> AllocSet:
    """Drop server-terminal allocs, except batch ones not marked for reschedule.

    Batch allocs stay so completed work still counts towards the group's Count.
    Nomad: filters.go, filterServerTerminalAllocs.
    """
    return {
        k: a
        for k, a in allocs.items()
        if a.desired_status not in SERVER_TERMINAL
        or (a.job.type == JOB_TYPE_BATCH and not a.desired_transition.reschedule)
    }


def filter_by_terminal(allocs: AllocSet) -> AllocSet:
    """Nomad: filterByTerminal: only non-terminal allocs."""
    return {k: a for k, a in allocs.items() if not a.terminal()}


def filter_out_server_terminal(allocs: AllocSet) -> AllocSet:
    """Nomad: filterByServerTerminal: only allocs not stopped by the server."""
    return {k: a for k, a in allocs.items() if not a.server_terminal()}


def filter_old_terminal_allocs(
    allocs: AllocSet, job: Job, batch: bool
) -> tuple[AllocSet, AllocSet]:
    """(remaining, ignored): batch only, terminal allocs of an older job version are ignored.

    Nomad: filters.go, filterOldTerminalAllocs.
    """
    if not batch:
        return allocs, {}
    version, create_index = job.version, job.create_index
    ignored = {
        k: a
        for k, a in allocs.items()
        if (a.job.version < version or a.job.create_index < create_index) and a.terminal()
    }
    return difference(allocs, ignored), ignored


def filter_by_deployment(allocs: AllocSet, deployment_id: str) -> AllocSet:
    """Nomad: filterByDeployment (the matching half)."""
    return {k: a for k, a in allocs.items() if a.deployment_id == deployment_id}


@dataclass(slots=True)
class Classified:
    """Nomad: the result of classifyAllocs (the parts the simulator models)."""

    untainted: AllocSet
    migrate: AllocSet
    lost: AllocSet
    ignore: AllocSet


def classify_allocs(
    allocs: AllocSet, tainted: dict[str, Node | None], supports_disconnected: bool
) -> Classified:
    """Split allocs by their node's state and their migrate mark (first matching rule wins).

    Nomad: filters.go, classifyAllocs and classificationRules.
    """
    out = Classified({}, {}, {}, {})
    untainted = out.untainted
    for alloc in allocs.values():
        if alloc.desired_status in SERVER_TERMINAL:
            out.ignore[alloc.id] = alloc
        elif alloc.client_status in CLIENT_TERMINAL:  # terminal on the client only
            if alloc.desired_transition.migrate and alloc.is_canary():
                out.migrate[alloc.id] = alloc
            else:
                untainted[alloc.id] = alloc
        elif alloc.node_id not in tainted and not alloc.desired_transition.migrate:
            untainted[alloc.id] = alloc  # _category's common case, inline
        else:
            getattr(out, _category(alloc, tainted, supports_disconnected))[alloc.id] = alloc
    return out


def _category(
    alloc: Allocation, tainted: dict[str, Node | None], supports_disconnected: bool
) -> str:
    if alloc.terminal():
        if alloc.server_terminal():
            return "ignore"
        if alloc.is_canary() and alloc.desired_transition.migrate:
            return "migrate"
        return "untainted"
    is_tainted = alloc.node_id in tainted
    node = tainted.get(alloc.node_id)
    if node is not None and node.status == NODE_STATUS_DISCONNECTED:
        keep = supports_disconnected and alloc.client_status == ALLOC_CLIENT_UNKNOWN
        return "untainted" if keep else "lost"
    if alloc.desired_transition.migrate:
        return "migrate"
    if not is_tainted or (node is not None and node.status == NODE_STATUS_READY):
        return "untainted"
    if node is None:
        return "lost"
    if node.status == NODE_STATUS_DOWN:
        tg = alloc.job.lookup_task_group(alloc.task_group)
        keep_unknown = tg is not None and tg.prevent_reschedule_on_lost
        if keep_unknown and alloc.client_status == ALLOC_CLIENT_UNKNOWN:
            return "untainted"
        return "lost"
    return "untainted"


def filter_by_rescheduleable(
    allocs: AllocSet, batch: bool, now: float, eval_id: str, deployment: Deployment | None
) -> tuple[AllocSet, AllocSet, list[DelayedReschedule]]:
    """(untainted, reschedule now, reschedule later) of a set of untainted or migrating allocs.

    Failed allocs already replaced are dropped; allocs that can never be rescheduled stay
    untainted (batch: successfully completed ones) or are dropped (ignored).
    Nomad: filters.go, filterByRescheduleable.
    """
    untainted: AllocSet = {}
    now_set: AllocSet = {}
    later: list[DelayedReschedule] = []
    for alloc in allocs.values():
        if alloc.next_allocation and alloc.terminal():
            continue
        if (batch and alloc.desired_status == ALLOC_DESIRED_RUN
                and alloc.client_status != ALLOC_CLIENT_FAILED and not alloc.desired_transition.reschedule):
            untainted[alloc.id] = alloc  # should_filter's common batch case, inline
            continue
        is_untainted, ignore = should_filter(alloc, batch)
        if is_untainted:
            untainted[alloc.id] = alloc
            continue
        if ignore:
            continue
        resched_now, resched_later, when = reschedule_decision(alloc, now, eval_id, deployment)
        if resched_now:
            now_set[alloc.id] = alloc
            continue
        untainted[alloc.id] = alloc
        if resched_later:
            later.append(DelayedReschedule(alloc, when))
    return untainted, now_set, later


def should_filter(alloc: Allocation, batch: bool) -> tuple[bool, bool]:
    """(untainted, ignore) before any reschedule decision.

    Batch: successfully finished allocs count as untainted and are never re-run; a failed one is
    a reschedule candidate. Service: stopped, complete or lost allocs are ignored.
    Nomad: filters.go, shouldFilter.
    """
    if batch:
        return _should_filter_batch(alloc)
    if alloc.desired_status in (ALLOC_DESIRED_STOP, ALLOC_DESIRED_EVICT):
        return (False, False) if last_reschedule_failed(alloc) else (False, True)
    if alloc.client_status in (ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_LOST):
        return False, True
    return False, False


def _should_filter_batch(alloc: Allocation) -> tuple[bool, bool]:
    if alloc.desired_transition.reschedule:
        return False, False
    if alloc.desired_status == ALLOC_DESIRED_STOP:
        if ran_successfully(alloc):
            return True, False
        return (False, False) if last_reschedule_failed(alloc) else (False, True)
    if alloc.desired_status == ALLOC_DESIRED_EVICT:
        return False, True
    if alloc.client_status == ALLOC_CLIENT_FAILED:
        return False, False
    return True, False


def ran_successfully(alloc: Allocation) -> bool:
    """Nomad: Allocation.RanSuccessfully: every task dead and not failed (at least one task)."""
    states = alloc.task_states.values()
    return bool(alloc.task_states) and all(
        ts.state == TASK_STATE_DEAD and not ts.failed for ts in states
    )


def delay_by_stop_after(lost: AllocSet, now: float) -> list[DelayedReschedule]:
    """Lost allocs of groups with stop_after_client_disconnect: replace only after that delay.

    The delay counts from now (the alloc is marked lost in this eval) plus the longest task
    kill timeout. Nomad: filters.go, delayByStopAfter, and Allocation.WaitClientStop.
    """
    later: list[DelayedReschedule] = []
    for alloc in lost.values():
        tg = alloc.job.lookup_task_group(alloc.task_group)
        if tg is None or not tg.stop_after_client_disconnect:
            continue
        kill = max([DEFAULT_KILL_TIMEOUT] + [t.kill_timeout for t in tg.tasks])
        when = now + (tg.stop_after_client_disconnect + kill) / 1e9
        if when > now:
            later.append(DelayedReschedule(alloc, when))
    return later


def client_status_known(allocs: AllocSet) -> AllocSet:
    """Nomad: filterOutByClientStatus(unknown)."""
    return {k: a for k, a in allocs.items() if a.client_status != ALLOC_CLIENT_UNKNOWN}


def count_client_status_known(allocs: AllocSet) -> int:
    """len(client_status_known(allocs)), without building the set."""
    return len(allocs) - sum(1 for a in allocs.values() if a.client_status == ALLOC_CLIENT_UNKNOWN)
