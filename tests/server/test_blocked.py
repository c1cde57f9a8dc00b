"""Tests for the blocked-evals tracker (sim/server/blocked.py), ported from Nomad's blocked_evals_test.go."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import simpy

from sim.server.blocked import BlockedEvals
from sim.server.broker import EvalBroker
from sim.server.config import ControlPlaneConfig
from sim.structs.evaluation import Evaluation

_ids = itertools.count(1)


def blocked_eval(**fields) -> Evaluation:
    """A blocked service eval for a fresh job (Nomad: mock.BlockedEval)."""
    n = next(_ids)
    base = dict(id=f"blocked-{n:05d}", namespace="default", priority=50, type="service",
                triggered_by="queued-allocs", job_id=f"job-{n:05d}", status="blocked")
    base.update(fields)
    return Evaluation(**base)


class Harness:
    """A broker and a blocked tracker on a fresh environment (Nomad: testBlockedEvals)."""

    def __init__(self):
        self.env = simpy.Environment()
        config = ControlPlaneConfig()
        self.broker = EvalBroker(self.env, config, np.random.default_rng(1), on_failed=lambda ev: None)
        self.blocked = BlockedEvals(self.env, self.broker, config)

    def stats(self) -> tuple[int, int, int]:
        s = self.blocked.stats()
        return s["total_blocked"], s["total_escaped"], len(s["by_job"])

    def ready(self) -> int:
        return self.broker.ready_count()


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_block_same_job_tracks_one(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_SameJob."""
    e = blocked_eval()
    e2 = blocked_eval(job_id=e.job_id)
    h.blocked.block(e)
    h.blocked.block(e2)
    assert h.stats() == (1, 0, 1)
    assert h.blocked.stats()["by_job"] == {("default", e.job_id): e2.id}


def test_block_after_prior_unblocks_of_ineligible_class(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_PriorUnblocks."""
    h.blocked.unblock("v1:123", 1000)
    h.blocked.unblock("v1:123", 1001)
    e = blocked_eval(class_eligibility={"v1:123": False, "v1:456": False}, snapshot_index=999)
    h.blocked.block(e)
    assert h.stats() == (1, 0, 1) and h.ready() == 0


def test_duplicates_keep_newest_by_index(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_GetDuplicates."""
    e = blocked_eval(create_index=100)
    e2 = blocked_eval(job_id=e.job_id, create_index=101)
    e3 = blocked_eval(job_id=e.job_id, create_index=102)
    e4 = blocked_eval(job_id=e.job_id, create_index=100)
    h.blocked.block(e)
    h.blocked.block(e2)
    assert h.stats() == (1, 0, 1)
    assert h.blocked.drain_duplicates() == [e]
    h.blocked.block(e3)
    assert h.blocked.drain_duplicates() == [e2]
    h.blocked.block(e4)  # older than the tracked one: it is the duplicate
    assert h.blocked.drain_duplicates() == [e4]
    assert h.blocked.drain_duplicates() == []
    assert h.blocked.stats()["by_job"] == {("default", e.job_id): e3.id}


def test_duplicate_decided_by_snapshot_index_too(h):
    """Nomad: blocked_evals.go latestEvalIndex (max of create and snapshot index)."""
    e = blocked_eval(create_index=10, snapshot_index=50)
    e2 = blocked_eval(job_id=e.job_id, create_index=40, snapshot_index=0)
    h.blocked.block(e)
    h.blocked.block(e2)
    assert h.blocked.drain_duplicates() == [e2]


def test_unblock_escaped(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockEscaped."""
    e = blocked_eval(escaped_computed_class=True)
    h.blocked.block(e)
    assert h.stats() == (1, 1, 1)
    h.blocked.unblock("v1:123", 1000)
    assert h.ready() == 1 and h.stats() == (0, 0, 0)


def test_unblock_eligible(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockEligible."""
    h.blocked.block(blocked_eval(class_eligibility={"v1:123": True}))
    assert h.stats() == (1, 0, 1)
    h.blocked.unblock("v1:123", 1000)
    assert h.ready() == 1 and h.stats() == (0, 0, 0)


def test_unblock_ineligible_does_nothing(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockIneligible."""
    h.blocked.block(blocked_eval(class_eligibility={"v1:123": False}))
    h.blocked.unblock("v1:123", 1000)
    assert h.ready() == 0 and h.stats() == (1, 0, 1)


def test_unblock_unknown_class(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockUnknown."""
    h.blocked.block(blocked_eval(class_eligibility={"v1:123": True, "v1:456": False}))
    h.blocked.unblock("v1:789", 1000)  # a class the eval never saw
    assert h.ready() == 1 and h.stats() == (0, 0, 0)


def test_released_eval_keeps_blocked_status(h):
    """Nomad: blocked_evals.go unblock (EnqueueAll of the blocked eval as it is)."""
    e = blocked_eval(escaped_computed_class=True)
    h.blocked.block(e)
    h.blocked.unblock("v1:1", 5)
    out, _ = h.broker.dequeue(["service"]).value
    assert out is e and out.status == "blocked"


def test_reblock_released_after_ack(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Reblock."""
    e = blocked_eval(snapshot_index=500, class_eligibility={"v1:123": True, "v1:456": False})
    h.broker.enqueue(e)
    _, token = h.broker.dequeue(["service"]).value
    h.blocked.reblock(e, token)
    assert h.stats() == (1, 0, 1)
    h.blocked.unblock("v1:123", 1000)
    s = h.broker.stats()
    assert (s["total_ready"], s["total_unacked"]) == (0, 1)
    h.broker.ack(e.id, token)
    assert h.ready() == 1 and h.stats() == (0, 0, 0)


def test_reblock_missed_unblock_requeued_after_ack(h):
    """Nomad: blocked_evals.go processBlock (missed unblock passes the token to EnqueueAll)."""
    e = blocked_eval(snapshot_index=500, class_eligibility={"v1:123": True})
    h.broker.enqueue(e)
    _, token = h.broker.dequeue(["service"]).value
    h.blocked.unblock("v1:123", 600)
    h.blocked.reblock(e, token)
    assert h.stats() == (0, 0, 0) and h.ready() == 0
    h.broker.ack(e.id, token)
    assert h.ready() == 1


def test_immediate_unblock_escaped(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_ImmediateUnblock_Escaped."""
    h.blocked.unblock("v1:123", 1000)
    h.blocked.block(blocked_eval(escaped_computed_class=True, snapshot_index=900))
    assert h.stats() == (0, 0, 0) and h.ready() == 1


def test_immediate_unblock_unseen_class_after(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_ImmediateUnblock_UnseenClass_After."""
    h.blocked.unblock("v1:123", 1000)
    h.blocked.block(blocked_eval(snapshot_index=900))
    assert h.stats() == (0, 0, 0) and h.ready() == 1


def test_no_immediate_unblock_unseen_class_before(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_ImmediateUnblock_UnseenClass_Before."""
    h.blocked.unblock("v1:123", 500)
    h.blocked.block(blocked_eval(snapshot_index=900))
    assert h.stats() == (1, 0, 1) and h.ready() == 0


def test_immediate_unblock_seen_class(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Block_ImmediateUnblock_SeenClass."""
    h.blocked.unblock("v1:123", 1000)
    e = blocked_eval(class_eligibility={"v1:123": True, "v1:456": False}, snapshot_index=900)
    h.blocked.block(e)
    assert h.stats() == (0, 0, 0) and h.ready() == 1


def test_unblock_failed_releases_max_plan_attempts(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockFailed."""
    e = blocked_eval(triggered_by="max-plan-attempts", escaped_computed_class=True)
    e2 = blocked_eval(triggered_by="max-plan-attempts",
                      class_eligibility={"v1:123": True, "v1:456": False})
    other = blocked_eval(class_eligibility={"v1:123": False})
    for ev in (e, e2, other):
        h.blocked.block(ev)
    h.blocked.unblock_failed()
    assert h.ready() == 2 and h.stats() == (1, 0, 1)
    h.blocked.block(blocked_eval(job_id=e.job_id, triggered_by="max-plan-attempts",
                                 escaped_computed_class=True))
    assert h.stats() == (2, 1, 2)


def test_max_plan_attempts_released_periodically(h):
    """Nomad: leader.go periodicUnblockFailedEvals (every failedEvalUnblockInterval = 1m)."""
    h.env.run()  # returns only because nothing is scheduled: no idle polling
    assert h.env.now == 0

    def later():
        yield h.env.timeout(10)
        h.blocked.block(blocked_eval(triggered_by="max-plan-attempts"))
        yield h.env.timeout(30)
        h.blocked.block(blocked_eval(triggered_by="max-plan-attempts"))

    h.env.process(later())
    h.env.run(until=69.9)
    assert h.ready() == 0 and h.blocked.blocked_count() == 2
    h.env.run(until=70.1)
    assert h.ready() == 2 and h.blocked.blocked_count() == 0
    h.env.run()  # the timer stopped once nothing was left to release
    assert h.env.now < 71

    h.env.process(later())
    h.env.run(until=140.0)  # blocked at 80.1 and 110.1: the new timer fires at 140.1
    assert h.ready() == 2 and h.blocked.blocked_count() == 2
    h.env.run()
    assert h.ready() == 4 and h.blocked.blocked_count() == 0


def test_untrack(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_Untrack."""
    e = blocked_eval(class_eligibility={"v1:123": False, "v1:456": False}, snapshot_index=1000)
    h.blocked.block(e)
    assert h.stats() == (1, 0, 1)
    h.blocked.untrack(e.namespace, e.job_id)
    assert h.stats() == (0, 0, 0)
    h.blocked.unblock("v1:789", 2000)
    assert h.ready() == 0


def test_unblock_node_releases_system_evals(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_UnblockNode."""
    e = blocked_eval(type="system", node_id="foo", snapshot_index=999,
                     class_eligibility={"v1:123": False})
    h.blocked.block(e)
    assert h.stats() == (1, 0, 1)
    h.blocked.unblock_node("bar", 1000)
    assert h.ready() == 0
    h.blocked.unblock_node("foo", 1000)
    assert h.ready() == 1 and h.stats() == (0, 0, 0)


def test_system_untrack(h):
    """Nomad: blocked_evals_test.go TestBlockedEvals_SystemUntrack."""
    e = blocked_eval(type="system", node_id="foo")
    h.blocked.block(e)
    h.blocked.untrack(e.namespace, e.job_id)
    assert h.stats() == (0, 0, 0)
    h.blocked.unblock_node("foo", 10)
    assert h.ready() == 0


def test_released_eval_waits_behind_job_in_flight_eval(h):
    """Nomad: eval_broker.go Ack (an unblocked eval pending behind its job's eval is cancelable)."""
    running = blocked_eval(status="pending", create_index=5, modify_index=5)
    h.broker.enqueue(running)
    _, token = h.broker.dequeue(["service"]).value
    newer = blocked_eval(job_id=running.job_id, create_index=6, modify_index=6,
                         escaped_computed_class=True)
    stale = blocked_eval(job_id="other", escaped_computed_class=True)
    h.blocked.block(newer)
    h.blocked.block(stale)
    h.blocked.unblock("v1:1", 7)
    assert h.broker.stats()["total_pending"] == 1 and h.ready() == 1
    h.broker.ack(running.id, token)
    assert h.ready() == 2 and h.broker.cancelable == []


def _unblock_forgetting_each(blocked: BlockedEvals, computed_class: str, index: int) -> None:
    """`BlockedEvals.unblock` as Nomad writes it: the released IDs, then each one forgotten."""
    blocked._unblock_indexes[computed_class] = index
    blocked._max_unblock_index = max(blocked._max_unblock_index, index)
    released = list(blocked._escaped)
    released += [eval_id for eval_id, t in blocked._captured.items()
                 if t[0].class_eligibility.get(computed_class) is not False]
    if released:
        blocked.broker.enqueue_all([blocked._forget(eval_id) for eval_id in released])


@pytest.mark.parametrize("seed", range(5))
def test_unblock_is_forgetting_each_released_eval(seed):
    """`unblock` (its released evals forgotten inline) against forgetting each in turn, on random
    blocks of escaped, captured and system evals of a few jobs: the same deliveries and stats."""
    rng = np.random.default_rng(seed)
    fast, slow = Harness(), Harness()
    classes = ["c1", "c2", "c3"]
    for step in range(60):
        if rng.random() < 0.6:
            kind = int(rng.integers(3))
            eligibility = {c: bool(rng.random() < 0.5) for c in classes if rng.random() < 0.6}
            fields = dict(job_id=f"job-{int(rng.integers(5))}", snapshot_index=step, create_index=step,
                          class_eligibility=eligibility, escaped_computed_class=kind == 0)
            if kind == 2:
                fields.update(type="system", node_id=f"node-{int(rng.integers(3))}")
            ev = blocked_eval(**fields)
            for h in (fast, slow):
                h.blocked.block(ev)
        else:
            cls = classes[int(rng.integers(len(classes)))]
            fast.blocked.unblock(cls, step)
            _unblock_forgetting_each(slow.blocked, cls, step)
        assert fast.blocked.stats() == slow.blocked.stats()
        assert fast.blocked._by_node == slow.blocked._by_node
        assert fast.broker.stats() == slow.broker.stats()
        if rng.random() < 0.3:
            got, want = fast.broker.try_dequeue(["service", "system"]), slow.broker.try_dequeue(["service", "system"])
            assert got == want
            if got is not None:
                for h in (fast, slow):
                    h.broker.ack(got[0].id, got[1])
