"""Tests for the evaluation broker (sim/server/broker.py), ported from Nomad's eval_broker_test.go."""

from __future__ import annotations

import gc
import itertools

import numpy as np
import pytest
import simpy

from sim.errors import SimError
from sim.server.broker import BrokerError, EvalBroker
from sim.server.config import ControlPlaneConfig
from sim.structs.evaluation import Evaluation

SCHEDS = ["service", "batch"]
_ids = itertools.count(1)


def make_eval(**fields) -> Evaluation:
    """A pending service eval for a fresh job (Nomad: mock.Eval)."""
    n = next(_ids)
    base = dict(id=f"eval-{n:05d}", namespace="default", priority=50, type="service",
                triggered_by="job-register", job_id=f"job-{n:05d}")
    base.update(fields)
    return Evaluation(**base)


class Harness:
    """A broker on a fresh environment that records the evals handed to on_failed."""

    def __init__(self, seed: int = 1, **config):
        self.env = simpy.Environment()
        self.failed: list[Evaluation] = []
        self.broker = EvalBroker(self.env, ControlPlaneConfig(**config), np.random.default_rng(seed),
                                 on_failed=self.failed.append)

    def take(self, types=SCHEDS) -> tuple[Evaluation, str]:
        """Dequeue that must succeed at once."""
        got = self.broker.dequeue(types)
        assert got.triggered, "expected an eval to be ready"
        return got.value

    def counts(self) -> tuple[int, int, int, int]:
        s = self.broker.stats()
        return s["total_ready"], s["total_unacked"], s["total_pending"], s["total_waiting"]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_enqueue_dequeue_nack_ack(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Enqueue_Dequeue_Nack_Ack."""
    ev = make_eval()
    h.broker.enqueue(ev)
    h.broker.enqueue(ev)  # double enqueue is a no-op
    assert h.counts() == (1, 0, 0, 0)
    assert h.broker.stats()["by_type"]["service"] == {"ready": 1, "unacked": 0}

    out, token = h.take()
    assert out is ev and h.broker.outstanding(ev.id) == token
    assert h.broker.stats()["by_type"]["service"] == {"ready": 0, "unacked": 1}

    with pytest.raises(BrokerError, match="^Token does not match for Evaluation ID$"):
        h.broker.nack(ev.id, "foobarbaz")
    h.broker.nack(ev.id, token)
    assert h.broker.outstanding(ev.id) is None
    h.env.run(until=1.001)
    assert h.counts() == (1, 0, 0, 0)

    out2, token2 = h.take()
    assert out2 is ev and token2 != token
    with pytest.raises(BrokerError, match="^Token does not match for Evaluation ID$"):
        h.broker.ack(ev.id, "zip")
    h.broker.ack(ev.id, token2)
    assert h.broker.outstanding(ev.id) is None
    assert h.counts() == (0, 0, 0, 0)
    with pytest.raises(BrokerError, match="^Evaluation ID not found$"):
        h.broker.ack(ev.id, token2)


def test_outstanding_reset_verifies_token(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Enqueue_Dequeue_Nack_Ack (OutstandingReset part)."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    with pytest.raises(BrokerError, match="evaluation is not outstanding"):
        h.broker.outstanding_reset("nope", "foo")
    with pytest.raises(BrokerError, match="evaluation token does not match"):
        h.broker.outstanding_reset(ev.id, "foo")
    h.broker.outstanding_reset(ev.id, token)
    assert issubclass(BrokerError, SimError)


def test_nack_delays_one_second_then_twenty(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Nack_Delay."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.broker.nack(ev.id, token)
    assert h.counts() == (0, 0, 0, 1)
    h.env.run(until=0.999)
    assert h.counts() == (0, 0, 0, 1)
    h.env.run(until=1.001)
    assert h.counts() == (1, 0, 0, 0)

    _, token2 = h.take()
    h.broker.nack(ev.id, token2)
    h.env.run(until=21.0)  # nacked at t=1.001: due at 21.001
    assert h.broker.ready_count() == 0
    h.env.run(until=21.002)
    out3, token3 = h.take()
    assert out3 is ev and token3 not in (token, token2)
    h.broker.ack(ev.id, token3)
    assert h.counts() == (0, 0, 0, 0)


def test_serialize_duplicate_job_id(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Serialize_DuplicateJobID."""
    def new(idx: int, ns: str) -> Evaluation:
        ev = make_eval(id=f"eval:{idx}", job_id="example", namespace=ns,
                       create_index=idx, modify_index=idx)
        h.broker.enqueue(ev)
        return ev

    e1, _, _, e4 = (new(i, "namespace-one") for i in (1, 2, 3, 4))
    e5, _, e7 = (new(i, "namespace-two") for i in (5, 6, 7))

    def stats():
        s = h.broker.stats()
        return s["total_ready"], s["total_unacked"], s["total_pending"], s["total_cancelable"]

    assert stats() == (2, 0, 5, 0)
    out, token = h.take()
    assert out is e1 and stats() == (1, 1, 5, 0)
    h.broker.ack(e1.id, token)
    assert stats() == (2, 0, 2, 2)
    out, token = h.take()
    assert out is e4 and stats() == (1, 1, 2, 2)
    h.broker.ack(e4.id, token)
    assert stats() == (1, 0, 2, 2)
    out, token = h.take()
    assert out is e5 and stats() == (0, 1, 2, 2)
    h.broker.ack(e5.id, token)
    assert stats() == (1, 0, 0, 3)
    out, token = h.take()
    assert out is e7
    h.broker.ack(e7.id, token)
    assert stats() == (0, 0, 0, 3)
    assert [e.id for e in h.broker.drain_cancelable()] == ["eval:2", "eval:3", "eval:6"]
    assert h.broker.drain_cancelable() == []


def test_dequeue_blocks_until_enqueue(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Dequeue_Empty_Timeout / TestEvalBroker_Dequeue_Blocked."""
    got: list[tuple[float, Evaluation]] = []
    ev = make_eval()

    def worker():
        out, _ = yield h.broker.dequeue(SCHEDS)
        got.append((h.env.now, out))

    def producer():
        yield h.env.timeout(5)
        h.broker.enqueue(ev)

    h.env.process(worker())
    h.env.process(producer())
    h.env.run(until=4)
    assert got == []
    h.env.run(until=10)
    assert got == [(5, ev)]


def test_dequeue_highest_priority_first(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Dequeue_Priority."""
    evals = [make_eval(priority=p) for p in (10, 30, 20)]
    for ev in evals:
        h.broker.enqueue(ev)
    assert [h.take()[0].priority for _ in range(3)] == [30, 20, 10]


def test_dequeue_fifo_by_create_index_within_priority(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Dequeue_FIFO."""
    for i in range(100, 0, -1):
        h.broker.enqueue(make_eval(create_index=i, modify_index=i))
    assert [h.take()[0].create_index for _ in range(100)] == list(range(1, 101))


@pytest.mark.parametrize("seed", range(4))
def test_dequeue_order_is_priority_then_create_index_then_enqueue_order(seed: int):
    """The ready queues (one int key per eval) hand out evals by (-priority, create index,
    enqueue order), whatever the values (large create indexes included)."""
    rng = np.random.default_rng(seed)
    hh = Harness(seed=seed)
    evals = [make_eval(priority=int(rng.choice([1, 50, 51, 100])),
                       create_index=int(rng.choice([0, 1, 2, int(rng.integers(2 ** 40))])))
             for _ in range(300)]
    for ev in evals:
        hh.broker.enqueue(ev)
    want = sorted(range(len(evals)), key=lambda i: (-evals[i].priority, evals[i].create_index, i))
    assert [hh.take(["service"])[0] for _ in evals] == [evals[i] for i in want]


def test_dequeue_fair_between_types_and_seeded():
    """Nomad: eval_broker_test.go TestEvalBroker_Dequeue_Fairness (ties broken with the run's rng)."""
    def order(seed: int) -> list[str]:
        hh = Harness(seed=seed)
        for i in range(1000):
            hh.broker.enqueue(make_eval(type="service" if i < 500 else "batch"))
        return [hh.take()[0].type for _ in range(1000)]

    seq = order(7)
    longest = max(len(list(run)) for _, run in itertools.groupby(seq))
    assert longest < 250
    assert seq.count("service") == 500
    assert order(7) == seq and order(8) != seq


def test_dequeue_only_from_requested_types(h):
    """Nomad: eval_broker_test.go TestEvalBroker_DeliveryLimit (dequeue by scheduler list)."""
    svc, batch = make_eval(priority=90), make_eval(type="batch", priority=10)
    h.broker.enqueue(svc)
    h.broker.enqueue(batch)
    assert h.take(["batch"])[0] is batch
    assert not h.broker.dequeue(["system"]).triggered


def test_nack_timeout_redelivers(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Nack_Timeout."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.env.run(until=59.9)
    assert h.broker.outstanding(ev.id) == token
    h.env.run(until=60.5)
    assert h.broker.outstanding(ev.id) is None and h.counts() == (0, 0, 0, 1)
    with pytest.raises(BrokerError, match="^Evaluation ID not found$"):
        h.broker.ack(ev.id, token)
    h.env.run(until=61.001)
    out, token2 = h.take()
    assert out is ev and token2 != token


def test_nack_timeout_reset_restarts_timer(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Nack_TimeoutReset."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.env.run(until=20)
    h.broker.outstanding_reset(ev.id, token)
    h.env.run(until=79.9)
    assert h.broker.outstanding(ev.id) == token
    h.env.run(until=80.1)
    assert h.broker.outstanding(ev.id) is None


def test_pause_and_resume_nack_timeout(h):
    """Nomad: eval_broker_test.go TestEvalBroker_PauseResumeNackTimeout."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.env.run(until=20)
    h.broker.pause_nack_timeout(ev.id, token)
    h.env.run(until=500)
    assert h.broker.outstanding(ev.id) == token  # paused: no timeout while in the plan queue
    h.broker.resume_nack_timeout(ev.id, token)
    h.env.run(until=559.9)
    assert h.broker.outstanding(ev.id) == token
    h.env.run(until=560.1)
    assert h.broker.outstanding(ev.id) is None
    with pytest.raises(BrokerError, match="evaluation is not outstanding"):
        h.broker.pause_nack_timeout(ev.id, token)


def test_delivery_limit_hands_eval_to_on_failed(h):
    """Nomad: eval_broker_test.go TestEvalBroker_DeliveryLimit (the _failed queue's reaper)."""
    ev = make_eval()
    h.broker.enqueue(ev)
    for _ in range(3):
        h.env.run(until=h.env.now + 100)
        _, token = h.take()
        assert h.failed == []
        h.broker.nack(ev.id, token)
    assert h.failed == [ev]
    s = h.broker.stats()
    assert (s["total_ready"], s["total_unacked"], s["total_waiting"], s["total_failed"]) == (0, 0, 0, 1)
    assert h.broker.in_flight() == 0
    h.broker.enqueue(ev)  # no longer tracked: a fresh enqueue is accepted
    assert h.broker.ready_count() == 1


def test_ack_at_delivery_limit_is_not_failed(h):
    """Nomad: eval_broker_test.go TestEvalBroker_AckAtDeliveryLimit."""
    ev = make_eval()
    h.broker.enqueue(ev)
    for i in range(3):
        h.env.run(until=h.env.now + 100)
        _, token = h.take()
        if i == 2:
            h.broker.ack(ev.id, token)
        else:
            h.broker.nack(ev.id, token)
    assert h.failed == [] and h.counts() == (0, 0, 0, 0)


def test_wait_holds_eval(h):
    """Nomad: eval_broker_test.go TestEvalBroker_Wait."""
    ev = make_eval(wait=100.0)
    h.broker.enqueue(ev)
    assert h.counts() == (0, 0, 0, 1)
    assert not h.broker.dequeue(SCHEDS).triggered
    h.env.run(until=99.0)
    assert h.broker.ready_count() == 0
    h.env.run(until=101.0)
    assert h.counts() == (0, 1, 0, 0)  # the waiting dequeue above took it at t=100


def test_wait_until_orders_by_time_and_drop_waiting(h):
    """Nomad: eval_broker_test.go TestEvalBroker_WaitUntil."""
    e1 = make_eval(wait_until=1.0, create_index=1)
    e2 = make_eval(wait_until=0.1, create_index=2)
    e3 = make_eval(wait_until=0.02, create_index=1)
    for ev in (e1, e2, e3):
        h.broker.enqueue(ev)
    assert h.broker.stats()["total_waiting"] == 3
    h.env.run(until=0.2)
    assert [h.take()[0] for _ in range(2)] == [e3, e2]
    h.env.run(until=2.0)
    assert h.take()[0] is e1 and h.broker.stats()["total_waiting"] == 0

    e4 = make_eval(wait_until=3.0)
    h.broker.enqueue(e4)
    assert h.broker.stats()["total_waiting"] == 1
    h.broker.drop_waiting(e4)
    h.env.run(until=5.0)
    assert h.counts() == (0, 3, 0, 0)


def test_wait_until_in_the_past_is_ready_now(h):
    """Nomad: eval_broker.go processEnqueue (a passed WaitUntil fires at once)."""
    h.env.run(until=10)
    h.broker.enqueue(make_eval(wait_until=5.0))
    assert h.broker.ready_count() == 1


def test_enqueue_many_serves_waiting_worker_highest_priority(h):
    """Nomad: eval_broker_test.go TestEvalBroker_EnqueueAll_Dequeue_Fair."""
    got = []

    def worker():
        out, _ = yield h.broker.dequeue(SCHEDS)
        got.append(out.priority)

    def producer():
        yield h.env.timeout(1)
        for p in range(10, 100, 10):
            h.broker.enqueue(make_eval(priority=p))

    h.env.process(worker())
    h.env.process(producer())
    h.env.run(until=2)
    assert got == [90]


def test_waiting_workers_served_in_fifo_order(h):
    """Nomad: eval_broker.go waitForSchedulers (here: waiting workers in arrival order)."""
    got = []

    def worker(name, delay):
        yield h.env.timeout(delay)
        out, _ = yield h.broker.dequeue(SCHEDS)
        got.append((name, out.priority))

    for name, delay in (("a", 0.1), ("b", 0.2), ("c", 0.3)):
        h.env.process(worker(name, delay))
    h.env.run(until=1)
    for p in (20, 70):
        h.broker.enqueue(make_eval(priority=p))
    h.env.run(until=2)
    assert got == [("a", 70), ("b", 20)]
    h.broker.enqueue(make_eval(type="batch"))
    h.env.run(until=3)
    assert got[-1] == ("c", 50)


def test_requeue_with_token_enqueued_after_ack(h):
    """Nomad: eval_broker_test.go TestEvalBroker_EnqueueAll_Requeue_Ack."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.broker.requeue(ev, token)
    assert h.counts() == (0, 1, 0, 0)
    h.broker.ack(ev.id, token)
    assert h.counts() == (1, 0, 0, 0)
    out, token2 = h.take()
    assert out is ev and token2 != token


def test_requeue_with_token_dropped_on_nack(h):
    """Nomad: eval_broker_test.go TestEvalBroker_EnqueueAll_Requeue_Nack."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.broker.requeue(ev, token)
    h.broker.nack(ev.id, token)
    h.env.run(until=2)
    assert h.counts() == (1, 0, 0, 0)
    _, token2 = h.take()
    h.broker.ack(ev.id, token2)
    assert h.counts() == (0, 0, 0, 0)  # the dropped requeue does not come back


def test_same_job_id_in_other_namespace_not_serialized(h):
    """Nomad: eval_broker_test.go TestEvalBroker_NamespacedJobs."""
    e1 = make_eval(job_id="test-jobID", namespace="n1")
    e2 = make_eval(job_id="test-jobID", namespace="default")
    e3 = make_eval(job_id="test-jobID", namespace="default")
    for ev in (e1, e2, e3):
        h.broker.enqueue(ev)
    assert [h.take()[0] for _ in range(2)] == [e1, e2]
    assert not h.broker.dequeue(SCHEDS).triggered
    assert h.broker.stats()["total_pending"] == 1


def test_ready_ordering_priority_then_create_index(h):
    """Nomad: eval_broker_test.go TestEvalBroker_ReadyEvals_Ordering."""
    h.broker.enqueue(make_eval(id="eval01", priority=50, create_index=1))
    h.broker.enqueue(make_eval(id="eval03", priority=70, create_index=3))
    h.broker.enqueue(make_eval(id="eval02", priority=50, create_index=2))
    assert h.take()[0].id == "eval03"
    assert h.take()[0].id == "eval01"
    h.broker.enqueue(make_eval(id="eval04", priority=50, create_index=4))
    assert h.take()[0].id == "eval02"


def test_pending_ordering_priority_then_newest(h):
    """Nomad: eval_broker_test.go TestEvalBroker_PendingEval_Ordering."""
    def job_eval(eval_id, priority, index):
        return make_eval(id=eval_id, job_id="example", priority=priority, modify_index=index)

    h.broker.enqueue(job_eval("eval00", 50, 0))
    h.broker.enqueue(job_eval("eval03", 50, 3))
    h.broker.enqueue(job_eval("eval02", 100, 2))
    h.broker.enqueue(job_eval("eval01", 50, 1))
    ev, token = h.take()
    h.broker.ack(ev.id, token)
    assert h.take()[0].id == "eval02"
    assert [e.id for e in h.broker.drain_cancelable()] == ["eval03", "eval01"]


def test_ack_promotes_newest_pending_and_cancels_rest(h):
    """Nomad: eval_broker_test.go TestEvalBroker_PendingEvals_MarkForCancel."""
    first = make_eval(job_id="example", create_index=1, modify_index=1)
    h.broker.enqueue(first)
    for i in range(100, 0, -10):
        h.broker.enqueue(make_eval(job_id="example", create_index=i + 1, modify_index=i + 1))
    assert h.broker.stats()["total_pending"] == 10
    _, token = h.take()
    h.broker.ack(first.id, token)
    assert len(h.broker.cancelable) == 9
    assert h.take()[0].modify_index == 101
    assert h.broker.stats()["total_pending"] == 0


def test_one_eval_per_job_in_flight_with_many_workers(h):
    """Nomad: eval_broker_test.go TestEvalBroker_IntegrationTest (11 evals, 4 schedulers: 2 run, 9 canceled)."""
    for i in range(11):
        h.broker.enqueue(make_eval(job_id="sys", type="system", create_index=i + 1, modify_index=i + 1))
    processed, concurrent = [], [0, 0]

    def worker():
        while True:
            ev, token = yield h.broker.dequeue(["system"])
            concurrent[0] += 1
            concurrent[1] = max(concurrent)
            yield h.env.timeout(0.5)
            concurrent[0] -= 1
            processed.append(ev.modify_index)
            h.broker.ack(ev.id, token)

    for _ in range(4):
        h.env.process(worker())
    h.env.run(until=10)
    assert processed == [1, 11] and concurrent[1] == 1
    assert len(h.broker.drain_cancelable()) == 9
    assert h.counts() == (0, 0, 0, 0) and h.broker.in_flight() == 0


def test_ready_and_in_flight_counts(h):
    """Nomad: eval_broker.go Stats (ready vs unacked, pending and waiting for settle checks)."""
    h.broker.enqueue(make_eval(job_id="j"))
    h.broker.enqueue(make_eval(job_id="j"))
    h.broker.enqueue(make_eval(wait=5.0))
    assert (h.broker.ready_count(), h.broker.in_flight()) == (1, 2)
    h.take()
    assert (h.broker.ready_count(), h.broker.in_flight()) == (0, 3)


def test_many_evals_are_fast(h):
    """Nomad: eval_broker.go (scale: 10k evals through enqueue, dequeue and ack)."""
    for i in range(10_000):
        h.broker.enqueue(make_eval(priority=10 + i % 80, create_index=i))
    done = 0
    while h.broker.ready_count():
        ev, token = h.take()
        h.broker.ack(ev.id, token)
        done += 1
    h.env.run(until=100)
    assert done == 10_000 and h.counts() == (0, 0, 0, 0)


def test_nack_timer_of_an_earlier_delivery_does_not_nack_the_next(h):
    """A nack timer belongs to one delivery (token): after a nack and redelivery, the first
    delivery's timer (due at 60 s, same generation) leaves the second (due at 71 s) alone."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.env.run(until=10)
    h.broker.nack(ev.id, token)
    h.env.run(until=11.001)
    _, token2 = h.take()
    h.env.run(until=60.5)
    assert h.broker.outstanding(ev.id) == token2
    h.env.run(until=71.1)
    assert h.broker.outstanding(ev.id) is None


def test_disarmed_nack_timer_holds_no_eval(h):
    """Disarmed nack timers stay queued until the oldest is due, without the acked Evaluation."""
    ev = make_eval()
    h.broker.enqueue(ev)
    _, token = h.take()
    h.broker.ack(ev.id, token)
    entries = list(h.broker._nack_timers._entries)
    reached, layer = [], entries
    for _ in range(3):  # entry, timer item, its parts
        layer = gc.get_referents(*layer)
        reached += layer
    assert len(entries) == 1 and not any(x is ev for x in reached)


@pytest.mark.parametrize("seed", range(5))
def test_enqueue_all_is_requeue_of_each(seed):
    """`enqueue_all` (which enqueues untracked ready evals inline) against `requeue`/`enqueue` of
    each (eval, token) in turn, on random batches: evals of a few jobs, some delayed (`wait`,
    `wait_until` past or future), some delivered (with their token or a stale one), some
    already ready; the same deliveries and stats throughout."""
    rng = np.random.default_rng(seed)
    fast, slow = Harness(seed), Harness(seed)
    delivered: list[tuple[Evaluation, str]] = []
    for step in range(40):
        batch: list[tuple[Evaluation, str]] = []
        for _ in range(int(rng.integers(1, 6))):
            kind = int(rng.integers(5))
            if kind == 0 and delivered:
                ev, token = delivered[int(rng.integers(len(delivered)))]
                batch.append((ev, token if rng.random() < 0.7 else "stale"))
                continue
            wait = 5.0 if kind == 1 else 0.0
            wait_until = {2: fast.env.now + 3.0, 3: max(fast.env.now - 1.0, 0.5)}.get(kind, 0.0)
            ev = make_eval(job_id=f"job-{int(rng.integers(4))}", type=SCHEDS[int(rng.integers(2))],
                           priority=int(rng.choice([50, 70])), wait=wait, wait_until=wait_until)
            batch.append((ev, "" if rng.random() < 0.8 else "stale"))
        fast.broker.enqueue_all(batch)
        for ev, token in batch:
            slow.broker.requeue(ev, token) if token else slow.broker.enqueue(ev)
        for h in (fast, slow):
            h.env.run(until=step + 1.0)
        assert fast.broker.stats() == slow.broker.stats()
        for _ in range(int(rng.integers(3))):
            got, want = fast.broker.try_dequeue(SCHEDS), slow.broker.try_dequeue(SCHEDS)
            assert got == want
            if got is not None:
                delivered.append(got)
        if delivered and rng.random() < 0.5:
            ev, token = delivered.pop(int(rng.integers(len(delivered))))
            for h in (fast, slow):
                if h.broker.outstanding(ev.id) == token:
                    h.broker.ack(ev.id, token)
        assert fast.broker.stats() == slow.broker.stats()
