"""The evaluation broker: ready queues per scheduler type, at-least-once delivery to workers.

Nomad: nomad/eval_broker.go. Evaluations wait here (ready, pending behind another eval of the
same job, or delayed by `wait` / `wait_until`) until a worker dequeues them. A dequeued eval is
unacked until the worker acks or nacks it; a nack (or the nack timeout) re-enqueues it after a
growing delay, and at the delivery limit the eval is handed to `on_failed` (Nomad's `_failed`
queue, drained at once by the leader's reaper). Waiting workers are SimPy events served in FIFO
order; timers check a generation number when due, so cancelling a timer costs nothing. The nack
timers (one per delivery, nearly all disarmed by the ack) share one event at a time
(sim.server.timers) and hold the delivery's eval ID and token, not the eval, until due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from heapq import heappop, heappush

import numpy as np
import simpy

from sim.errors import SimError
from sim.server.config import ControlPlaneConfig
from sim.server.timers import TimerQueue
from sim.structs.evaluation import Evaluation
from sim.structs.job import JobKey

# a ready eval's place in its queue: (-priority, create index, enqueue sequence) as one int, a
# heap of plain ints comparing without a tuple comparison per step; the create index (a Raft
# index) and the sequence (an enqueue count) each take _KEY_BITS bits, more than either reaches
_KEY_BITS = 64
_PRIORITY_SHIFT = 2 * _KEY_BITS
PendingEntry = tuple[int, int, int, int, Evaluation]
_NackTimer = tuple[str, str, int]  # (eval ID, delivery token, generation): no Evaluation held till due
# a delivered eval awaiting ack/nack: (eval, token, its nack timer's generation, whether paused);
# replaced, not changed, when its timer moves on (rarely: once per plan)
_Unacked = tuple[Evaluation, str, int, bool]


class BrokerError(SimError):
    """An ack, nack or timer operation on an eval that is not outstanding under that token."""


@dataclass(slots=True)
class _Waiter:
    """A worker blocked in dequeue."""

    types: list[str]
    event: simpy.Event


class EvalBroker:
    """Nomad: nomad/eval_broker.go, EvalBroker."""

    def __init__(self, env: simpy.Environment, config: ControlPlaneConfig, rng: np.random.Generator,
                 on_failed: Callable[[Evaluation], None]):
        self.env = env
        self.config = config
        self.rng = rng
        self.on_failed = on_failed
        self.cancelable: list[Evaluation] = []
        self._dequeues: dict[str, int] = {}          # tracked eval ID -> times delivered
        self._job_evals: dict[JobKey, str] = {}      # job -> its one ready/unacked eval
        self._pending: dict[JobKey, list[PendingEntry]] = {}
        self._ready: dict[str, list[int]] = {}      # scheduler type -> heap of its ready evals' keys
        self._ready_evals: dict[int, Evaluation] = {}  # key -> the ready eval
        self._unack: dict[str, _Unacked] = {}
        self._requeue: dict[str, Evaluation] = {}    # token -> eval to enqueue once acked
        self._delayed: dict[str, tuple[Evaluation, int]] = {}
        self._waiters: list[_Waiter] = []
        self._dispatch_pending = False
        self._seq = 0
        self._tokens = 0
        self._total_pending = 0
        self._total_failed = 0
        self._nack_timers: TimerQueue[_NackTimer] = TimerQueue(
            env, config.eval_nack_timeout, self._nack_timer_fired, self._nack_timer_live)

    # -- enqueue ----------------------------------------------------------------------------

    def enqueue(self, ev: Evaluation) -> None:
        """Nomad: eval_broker.go, Enqueue. A second enqueue of a tracked eval is a no-op."""
        self._process_enqueue(ev, "")

    def requeue(self, ev: Evaluation, token: str) -> None:
        """Nomad: eval_broker.go, EnqueueAll with a token.

        If `ev` is outstanding under `token` it is enqueued once acked (dropped if nacked);
        if the broker does not track it, it is enqueued as usual.
        """
        self._process_enqueue(ev, token)

    def enqueue_all(self, evals: list[tuple[Evaluation, str]]) -> None:
        """Nomad: eval_broker.go, EnqueueAll: `requeue` each (eval, token) in turn, `enqueue`
        for the token "" (an eval not outstanding)."""
        process, dequeues, ready = self._process_enqueue, self._dequeues, self._enqueue_ready
        for ev, token in evals:
            if ev.id in dequeues or ev.wait > 0 or ev.wait_until > 0:
                process(ev, token)
            else:  # (`_process_enqueue` of an untracked eval ready now, inline: most released evals)
                dequeues[ev.id] = 0
                ready(ev)

    def _process_enqueue(self, ev: Evaluation, token: str) -> None:
        """Nomad: eval_broker.go, processEnqueue."""
        if ev.id in self._dequeues:
            unack = self._unack.get(ev.id)
            if token and unack is not None and unack[1] == token:
                self._requeue[token] = ev
            return
        self._dequeues[ev.id] = 0
        if ev.wait > 0:
            self._hold(ev, ev.wait)
        elif ev.wait_until > 0 and ev.wait_until > self.env.now:  # (most have no wait_until: no clock read)
            self._hold(ev, ev.wait_until - self.env.now)
        else:
            self._enqueue_ready(ev)

    def _hold(self, ev: Evaluation, delay: float) -> None:
        """Nomad: processWaitingEnqueue / the delay heap: make `ev` ready after `delay`."""
        self._seq += 1
        self._delayed[ev.id] = (ev, self._seq)
        timer = self.env.timeout(delay)
        timer.callbacks.append(partial(self._release_delayed, ev.id, self._seq))

    def _release_delayed(self, eval_id: str, seq: int, _event: simpy.Event) -> None:
        entry = self._delayed.get(eval_id)
        if entry is None or entry[1] != seq:
            return
        del self._delayed[eval_id]
        self._enqueue_ready(entry[0])

    def drop_waiting(self, ev: Evaluation) -> None:
        """Nomad: eval_broker.go, DropWaiting: forget a delayed eval before it is due."""
        if self._delayed.pop(ev.id, None) is not None:
            self._dequeues.pop(ev.id, None)

    def _enqueue_ready(self, ev: Evaluation) -> None:
        """Nomad: eval_broker.go, enqueueLocked: ready, unless the job already has one in flight."""
        key = (ev.namespace, ev.job_id)
        current = self._job_evals.get(key)
        self._seq += 1
        if current is None:
            self._job_evals[key] = ev.id
        elif current != ev.id:
            heap = self._pending.setdefault(key, [])
            heappush(heap, (-ev.priority, -ev.modify_index, -ev.create_index, -self._seq, ev))
            self._total_pending += 1
            return
        queue = self._ready.get(ev.type)
        if queue is None:
            queue = self._ready[ev.type] = []
        rank = (-ev.priority << _PRIORITY_SHIFT) + (ev.create_index << _KEY_BITS) + self._seq
        self._ready_evals[rank] = ev
        heappush(queue, rank)
        if self._waiters and not self._dispatch_pending and any(ev.type in w.types for w in self._waiters):
            self._schedule_dispatch()

    # -- dequeue ----------------------------------------------------------------------------

    def dequeue(self, types: list[str]) -> simpy.Event:
        """Nomad: eval_broker.go, Dequeue. The event's value is (eval, token)."""
        event = self.env.event()
        found = self.try_dequeue(types)
        if found is not None:
            event.succeed(found)
        else:
            self._waiters.append(_Waiter(list(types), event))
        return event

    def try_dequeue(self, types: list[str]) -> tuple[Evaluation, str] | None:
        """Dequeue without waiting: (eval, token) if one is ready now, else None (also while
        waiters are to be served first). Nomad: eval_broker.go, scanForSchedulers: the highest
        priority head, random among ties; then dequeueForSched: pop it, hand out a token, start
        the nack timer."""
        if self._dispatch_pending:
            return None
        ready = self._ready
        best: list[int] | None = None  # the best queue
        ties: list[list[int]] | None = None  # the queues whose head ties with its, if any
        for sched in types:
            queue = ready.get(sched)
            if queue:
                if best is None:
                    best = queue
                    continue
                head, best_head = queue[0] >> _PRIORITY_SHIFT, best[0] >> _PRIORITY_SHIFT  # (-priority)
                if head < best_head:  # (a higher priority)
                    best, ties = queue, None
                elif head == best_head:
                    ties = [*(ties or [best]), queue]
        if best is None:
            return None
        if ties is not None:
            best = ties[int(self.rng.integers(len(ties)))]
        ev = self._ready_evals.pop(heappop(best))
        self._tokens = number = self._tokens + 1
        token = str(number)  # (a delivery's token: its number, unique; only ever compared)
        eval_id = ev.id
        self._unack[eval_id] = (ev, token, 1, False)  # its nack timer's first generation (`_start_nack_timer`)
        self._dequeues[eval_id] += 1
        self._nack_timers.start((eval_id, token, 1))
        return ev, token

    def _schedule_dispatch(self) -> None:
        """Serve waiters after everything enqueued at this instant (Nomad: EnqueueAll's lock)."""
        self._dispatch_pending = True
        tick = self.env.event()
        tick.callbacks.append(self._dispatch)
        tick.succeed()

    def _dispatch(self, _event: simpy.Event) -> None:
        self._dispatch_pending = False
        still_waiting = []
        for waiter in self._waiters:
            found = self.try_dequeue(waiter.types)
            if found is None:
                still_waiting.append(waiter)
            else:
                waiter.event.succeed(found)
        self._waiters = still_waiting

    # -- nack timer -------------------------------------------------------------------------

    def _start_nack_timer(self, unack: _Unacked) -> None:
        ev, token, gen, _ = unack
        self._unack[ev.id] = (ev, token, gen + 1, False)
        self._nack_timers.start((ev.id, token, gen + 1))

    def _nack_timer_live(self, timer: _NackTimer) -> bool:
        eval_id, token, gen = timer  # (tokens are unique per delivery; the gen moves on at every pause)
        unack = self._unack.get(eval_id)
        return unack is not None and unack[2] == gen and not unack[3] and unack[1] == token

    def _nack_timer_fired(self, timer: _NackTimer) -> None:
        self.nack(timer[0], timer[1])

    def _outstanding(self, eval_id: str, token: str) -> _Unacked:
        unack = self._unack.get(eval_id)
        if unack is None:
            raise BrokerError("evaluation is not outstanding")
        if unack[1] != token:
            raise BrokerError("evaluation token does not match")
        return unack

    def outstanding_reset(self, eval_id: str, token: str) -> None:
        """Nomad: eval_broker.go, OutstandingReset: restart the nack timer."""
        self._start_nack_timer(self._outstanding(eval_id, token))

    def pause_nack_timeout(self, eval_id: str, token: str) -> None:
        """Nomad: eval_broker.go, PauseNackTimeout (while the plan waits in the plan queue)."""
        ev, _, gen, _ = self._outstanding(eval_id, token)
        self._unack[eval_id] = (ev, token, gen + 1, True)

    def resume_nack_timeout(self, eval_id: str, token: str) -> None:
        """Nomad: eval_broker.go, ResumeNackTimeout: a full nack timeout from now."""
        self._start_nack_timer(self._outstanding(eval_id, token))

    def outstanding(self, eval_id: str) -> str | None:
        """Nomad: eval_broker.go, Outstanding: the token if delivered and not yet acked."""
        unack = self._unack.get(eval_id)
        return unack[1] if unack is not None else None

    # -- ack / nack -------------------------------------------------------------------------

    def _take_unacked(self, eval_id: str, token: str) -> Evaluation:
        """The eval delivered under `token`, no longer outstanding (its nack timer disarmed)."""
        unack = self._unack.get(eval_id)
        if unack is None or unack[1] != token:
            raise BrokerError("Evaluation ID not found" if unack is None else "Token does not match for Evaluation ID")
        del self._unack[eval_id]
        return unack[0]

    def ack(self, eval_id: str, token: str) -> None:
        """Nomad: eval_broker.go, Ack: done; promote the job's best pending eval, cancel the rest."""
        requeued = self._requeue.pop(token, None) if self._requeue else None
        self._release_job(self._take_unacked(eval_id, token))
        if requeued is not None:
            self._process_enqueue(requeued, "")

    def _release_job(self, ev: Evaluation) -> None:
        """Forget `ev`; the job's best pending eval becomes ready, older ones cancelable."""
        del self._dequeues[ev.id]
        key = (ev.namespace, ev.job_id)
        del self._job_evals[key]
        heap = self._pending.pop(key, None)
        if not heap:
            return
        best = heappop(heap)[-1]
        stale = [entry[-1] for entry in sorted(heap, key=lambda e: -e[3])]
        self.cancelable.extend(stale)
        self._total_pending -= len(heap) + 1
        self._enqueue_ready(best)

    def nack(self, eval_id: str, token: str) -> None:
        """Nomad: eval_broker.go, Nack: retry after 1s, then (d-1)*20s; fail at the delivery limit."""
        self._requeue.pop(token, None)
        ev = self._take_unacked(eval_id, token)
        dequeues = self._dequeues[eval_id]
        if dequeues >= self.config.eval_delivery_limit:
            self._release_job(ev)
            self._total_failed += 1
            self.on_failed(ev)
            return
        delay = self._nack_delay(dequeues)
        if delay > 0:
            self._hold(ev, delay)
        else:
            self._enqueue_ready(ev)

    def _nack_delay(self, dequeues: int) -> float:
        """Nomad: eval_broker.go, nackReenqueueDelay."""
        if dequeues <= 0:
            return 0.0
        if dequeues == 1:
            return self.config.eval_nack_initial_reenqueue_delay
        return (dequeues - 1) * self.config.eval_nack_subsequent_reenqueue_delay

    # -- cancelable and stats ---------------------------------------------------------------

    def drain_cancelable(self) -> list[Evaluation]:
        """Nomad: eval_broker.go, Cancelable: stale pending evals the leader marks canceled."""
        out, self.cancelable = self.cancelable, []
        return out

    def ready_count(self) -> int:
        """Evals ready for a worker now."""
        return sum(len(q) for q in self._ready.values())

    def in_flight(self) -> int:
        """Evals held but not ready: unacked, pending behind another eval, or delayed."""
        return len(self._unack) + self._total_pending + len(self._delayed)

    def stats(self) -> dict:
        """Nomad: eval_broker.go, Stats (BrokerStats) plus the evals failed at the delivery limit."""
        unacked: dict[str, int] = {}  # (every type delivered has a ready queue, if empty)
        for ev, *_ in self._unack.values():
            unacked[ev.type] = unacked.get(ev.type, 0) + 1
        return {
            "total_ready": self.ready_count(),
            "total_unacked": len(self._unack),
            "total_pending": self._total_pending,
            "total_waiting": len(self._delayed),
            "total_cancelable": len(self.cancelable),
            "total_failed": self._total_failed,
            "by_type": {t: {"ready": len(self._ready.get(t, ())),
                            "unacked": unacked.get(t, 0)} for t in sorted(self._ready)},
        }
