"""Blocked evaluations: evals that could not place everything, parked until capacity changes.

Nomad: nomad/blocked_evals.go. One blocked eval is tracked per job (the newest wins; the older
one becomes a duplicate the leader cancels). An eval whose constraints were captured by computed
node classes is released only by an unblock of a class it did not mark ineligible; an "escaped"
eval is released by any class unblock. An eval that reaches the tracker after an unblock it could
have used (its snapshot predates the unblock index) goes straight back to the broker. Evals
blocked after running out of plan attempts are also released every `failed_eval_unblock_interval`
by a process that sleeps until there is such an eval. Nomad serialises these calls through a
channel; here they run synchronously in simulated time.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import simpy

from sim.server.broker import EvalBroker
from sim.server.config import ControlPlaneConfig
from sim.structs.consts import JOB_TYPE_SYSTEM, TRIGGER_MAX_PLANS
from sim.structs.evaluation import Evaluation
from sim.structs.job import JobKey

_Tracked = tuple[Evaluation, str]  # a blocked eval and the broker token it was reblocked under ("" when blocked fresh)


def latest_eval_index(ev: Evaluation) -> int:
    """Nomad: blocked_evals.go, latestEvalIndex: max(create index, snapshot index)."""
    return max(ev.create_index, ev.snapshot_index)


class BlockedEvals:
    """Nomad: nomad/blocked_evals.go, BlockedEvals."""

    def __init__(self, env: simpy.Environment, broker: EvalBroker, config: ControlPlaneConfig):
        self.env = env
        self.broker = broker
        self.config = config
        self.duplicates: list[Evaluation] = []
        self._captured: dict[str, _Tracked] = {}
        self._escaped: dict[str, _Tracked] = {}
        self._jobs: dict[JobKey, str] = {}
        self._by_node: dict[str, dict[str, None]] = {}   # system evals by node
        self._unblock_indexes: dict[str, int] = {}       # computed class -> last unblock index
        self._max_unblock_index = 0
        self._failed_wake = env.event()
        self._failed_process = env.process(self._unblock_failed_loop())

    # -- block ------------------------------------------------------------------------------

    def block(self, ev: Evaluation) -> None:
        """Nomad: blocked_evals.go, Block: track `ev` until a useful capacity change."""
        self.reblock(ev, "")

    def reblock(self, ev: Evaluation, token: str) -> None:
        """Nomad: blocked_evals.go, Reblock: an outstanding blocked eval still could not place.
        Released before the worker acks it, it is enqueued by the broker after the ack.

        Both go through Nomad's processBlock (here, for `block`, with no token)."""
        key = (ev.namespace, ev.job_id)
        if key in self._jobs and self._replace_job_duplicate(ev):
            return
        if ev.snapshot_index < self._max_unblock_index and self._missed_unblock(ev):
            self._release((ev, token))
            return
        self._jobs[key] = ev.id
        tracked = (ev, token)
        if ev.escaped_computed_class:
            self._escaped[ev.id] = tracked
        else:
            self._captured[ev.id] = tracked
            if ev.type == JOB_TYPE_SYSTEM and ev.node_id:
                self._by_node.setdefault(ev.node_id, {})[ev.id] = None
        if ev.triggered_by == TRIGGER_MAX_PLANS and not self._failed_wake.triggered:
            self._failed_wake.succeed()

    def _replace_job_duplicate(self, ev: Evaluation) -> bool:
        """Nomad: blocked_evals.go, processBlockJobDuplicate. True if `ev` itself is the duplicate.

        The older of the two (by `latest_eval_index`) goes to `duplicates`. Re-blocking the very
        eval already tracked just replaces the entry (no duplicate).
        """
        existing_id = self._jobs.get((ev.namespace, ev.job_id))
        if existing_id is None:
            return False
        existing = self._captured.get(existing_id) or self._escaped.get(existing_id)
        if existing is None:
            del self._jobs[(ev.namespace, ev.job_id)]
            return False
        if existing_id != ev.id and latest_eval_index(existing[0]) > latest_eval_index(ev):
            self.duplicates.append(ev)
            return True
        self._forget(existing_id)
        if existing_id != ev.id:
            self.duplicates.append(existing[0])
        return False

    def _missed_unblock(self, ev: Evaluation) -> bool:
        """Nomad: blocked_evals.go, missedUnblock: an unblock happened after `ev`'s snapshot
        (which predates the latest unblock)."""
        snapshot = ev.snapshot_index
        if ev.escaped_computed_class:
            return True
        eligibility = ev.class_eligibility
        for cls, index in self._unblock_indexes.items():
            if snapshot < index and eligibility.get(cls) is not False:
                return True
        return False

    # -- unblock ----------------------------------------------------------------------------

    def unblock(self, computed_class: str, index: int) -> None:
        """Nomad: blocked_evals.go, Unblock: capacity changed on nodes of `computed_class`.

        Releases every escaped eval and every captured eval that did not mark the class
        ineligible (an unseen class counts as eligible). Released evals keep status "blocked".
        """
        if not computed_class:
            return  # Nomad: a class-less unblock only reaches node-specific (system) evals
        self._unblock_indexes[computed_class] = index
        self._max_unblock_index = max(self._max_unblock_index, index)
        # (`_forget` of each: the escaped ones first, then the captured, in tracking order)
        released = list(self._escaped.values())
        self._escaped.clear()
        captured = self._captured
        eligible = [eval_id for eval_id, t in captured.items() if t[0].class_eligibility.get(computed_class) is not False]
        released += map(captured.pop, eligible)
        self._untrack(released)
        if released:
            self.broker.enqueue_all(released)

    def unblock_node(self, node_id: str, index: int) -> None:
        """Nomad: blocked_evals.go, UnblockNode: release system evals blocked on `node_id`.

        Nomad keeps no unblock index for node unblocks; `index` is accepted for symmetry.
        """
        self._release_ids(list(self._by_node.get(node_id, ())))

    def unblock_failed(self) -> None:
        """Nomad: blocked_evals.go, UnblockFailed: release evals blocked by max plan attempts."""
        released = [eval_id for pool in (self._captured, self._escaped)
                    for eval_id, t in pool.items() if t[0].triggered_by == TRIGGER_MAX_PLANS]
        self._release_ids(released)

    def _unblock_failed_loop(self) -> Generator[simpy.Event, Any, None]:
        """Nomad: leader.go, periodicUnblockFailedEvals, ticking only while it has work."""
        while True:
            yield self._failed_wake
            yield self.env.timeout(self.config.failed_eval_unblock_interval)
            self._failed_wake = self.env.event()
            self.unblock_failed()

    def _release_ids(self, eval_ids: list[str]) -> None:
        """Stop tracking the evals and hand them back to the broker in one go (Nomad: Unblock's
        EnqueueAll; forgetting one does not change how the broker takes another)."""
        if eval_ids:
            self.broker.enqueue_all(list(map(self._forget, eval_ids)))

    def _release(self, tracked: _Tracked) -> None:
        """Hand an eval back to the broker (after the ack if it is still outstanding)."""
        ev, token = tracked
        if token:
            self.broker.requeue(ev, token)
        else:
            self.broker.enqueue(ev)

    # -- untrack ----------------------------------------------------------------------------

    def untrack(self, namespace: str, job_id: str) -> None:
        """Nomad: blocked_evals.go, Untrack: the job no longer needs its blocked eval."""
        eval_id = self._jobs.get((namespace, job_id))
        if eval_id is not None:
            self._forget(eval_id)

    def _forget(self, eval_id: str) -> _Tracked:
        """Stop tracking `eval_id` everywhere; returns its entry."""
        tracked = self._captured.pop(eval_id, None) or self._escaped.pop(eval_id)
        self._untrack((tracked,))
        return tracked

    def _untrack(self, entries: Iterable[_Tracked]) -> None:
        """Stop tracking the entries (taken out of the captured or escaped ones) by job and by node."""
        jobs, by_node = self._jobs, self._by_node
        for ev, _ in entries:
            key = (ev.namespace, ev.job_id)
            if jobs.get(key) == ev.id:
                del jobs[key]
            on_node = by_node.get(ev.node_id) if by_node else None
            if on_node is not None:
                on_node.pop(ev.id, None)
                if not on_node:
                    del by_node[ev.node_id]

    def drain_duplicates(self) -> list[Evaluation]:
        """Nomad: blocked_evals.go, GetDuplicates: older blocked evals the leader cancels."""
        out, self.duplicates = self.duplicates, []
        return out

    # -- stats ------------------------------------------------------------------------------

    def blocked_count(self) -> int:
        """Evals currently tracked (captured plus escaped)."""
        return len(self._captured) + len(self._escaped)

    def stats(self) -> dict:
        """Nomad: blocked_evals_stats.go, BlockedStats: totals and the blocked eval of each job."""
        return {
            "total_blocked": self.blocked_count(),
            "total_escaped": len(self._escaped),
            "total_captured": len(self._captured),
            "by_job": dict(sorted(self._jobs.items())),
        }
