"""The event stream's broker: Nomad's events of each state-store write, kept in a ring buffer.

Nomad: nomad/state/events.go (eventsFromChanges: one event per object a write changed, typed by
the write: JobRegistered, PlanResult, AllocationUpdated, ...), nomad/stream (EventBroker, its
buffer of `event_buffer_size` = 100 writes, subscription filters by topic, key, filter keys and
namespace). The store records the allocs and evals each write changes only while someone streams
(`attach`/`detach`: StateStore.record_changes), so a run nobody watches pays nothing; jobs,
deployments and nodes are found by the write's index among those the write can have touched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sim.api import encode as E
from sim.structs.alloc import Allocation
from sim.structs.codec import encode_job
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job
from sim.structs.node import Node

if TYPE_CHECKING:
    from sim.state.store import StateStore

EVENT_BUFFER_SIZE = 100  # Nomad: server event_buffer_size default
TOPICS = ("Job", "Allocation", "Evaluation", "Deployment", "Node")
Events = dict[str, Any]  # {"Index": N, "Events": [...]}


class EventBroker:
    """Turns state writes into Nomad's events while at least one stream is attached."""

    def __init__(self, state: StateStore, nanos: Callable[[float], int], size: int = EVENT_BUFFER_SIZE):
        self.state = state
        self.nanos = nanos
        self.buffer: deque[Events] = deque(maxlen=size)
        self.streams = 0
        self._listening = False
        self._jobs: dict[tuple[str, str], Job] = {}  # the latest version of each job (a purge's payload)
        self.on_events: list[Callable[[], None]] = []  # wake-ups of the attached streams

    def attach(self) -> None:
        """A stream starts: listen to the store, recording what each write changes, from now on."""
        self.streams += 1
        if not self._listening:
            self.state.subscribe(self._on_write)
            self._listening = True
        if self.streams == 1:
            self.state.record_changes(True)
            self._jobs = {job.ns_id: job for job in self.state.jobs(None)}

    def detach(self) -> None:
        """A stream ended (the last one stops the recording)."""
        self.streams = max(0, self.streams - 1)
        if not self.streams:
            self.state.record_changes(False)

    def since(self, index: int) -> list[Events]:
        """Buffered writes at or after `index` (Nomad: StartAtClosest), oldest first."""
        return [e for e in self.buffer if e["Index"] >= index]

    # -- from writes to events --------------------------------------------------------------

    def _on_write(self, index: int, tables: frozenset[str]) -> None:
        if not self.streams:
            return
        allocs, evals = self.state.take_changes()
        kind = self.state.last_write
        if not kind:
            return
        events = self._events(index, tables, kind, _stamped(allocs, index), _stamped(evals, index))
        if events:
            self.buffer.append({"Index": index, "Events": events})
            for wake in self.on_events:
                wake()

    def _events(self, index: int, tables: frozenset[str], kind: str, allocs: list[Allocation],
                evals: list[Evaluation]) -> list[dict[str, Any]]:
        """The write's events: the allocs and evals it recorded, and the jobs, deployments and nodes
        stamped with its index among those it can have touched."""
        state, nanos, out = self.state, self.nanos, []

        def event(topic: str, key: str, namespace: str, filter_keys: list[str] | None, payload: Any) -> None:
            out.append({"Topic": topic, "Type": kind, "Key": key, "Namespace": namespace, "FilterKeys": filter_keys,
                        "Index": index, "Payload": {topic: payload}})

        deployments: list[Deployment] = []
        if "deployment" in tables:
            if kind == "AllocationUpdated":  # client reports touch only their allocs' deployments
                found = (state.deployment_by_id(i) for i in {a.deployment_id for a in allocs if a.deployment_id})
                deployments = _stamped((d for d in found if d is not None), index)
            else:
                deployments = _stamped(state.deployments(), index)
        if "jobs" in tables:
            if "job_version" in tables and not evals:  # a job write without an eval: any job
                jobs = _stamped(state.jobs(None), index)
            else:  # the job of the write's evals, or a job whose status follows its allocs, evals, deployments
                keys = sorted({(a.namespace, a.job_id) for a in allocs} | {(e.namespace, e.job_id) for e in evals}
                              | {(d.namespace, d.job_id) for d in deployments})
                jobs = _stamped((j for j in (state.job_by_id(*k) for k in keys) if j is not None), index)
            for job in jobs:
                self._jobs[job.ns_id] = job
                event("Job", job.id, job.namespace, None, E.nomad_job(encode_job(job)))
            if kind == "JobDeregistered":  # a purge: the job is gone, its last version is the payload
                for key in [k for k in self._jobs if state.job_by_id(*k) is None]:
                    gone = self._jobs.pop(key)
                    event("Job", gone.id, gone.namespace, None, E.nomad_job(encode_job(gone)))
        for ev in evals:
            event("Evaluation", ev.id, ev.namespace, [ev.job_id, ev.deployment_id], E.encode_eval(ev, nanos))
        for a in allocs:
            alloc = E.encode_alloc(a, nanos, lambda _job: {})
            alloc["Job"] = None  # Nomad drops the job from alloc events
            event("Allocation", a.id, a.namespace, [a.job_id, a.deployment_id], alloc)
        for d in deployments:
            event("Deployment", d.id, d.namespace, [d.job_id], E.encode_deployment(d, nanos))
        if "nodes" in tables:
            for n in _stamped(state.nodes.nodes, index):
                event("Node", n.id, "", None, E.encode_node(n, nanos))
        return out


T = TypeVar("T", Allocation, Evaluation, Deployment, Job, Node)


def _stamped(items: Iterable[T], index: int) -> list[T]:
    """The objects a write changed: those whose ModifyIndex is the write's."""
    return [i for i in items if i.modify_index == index]


# -- subscriptions ---------------------------------------------------------------------------------


def parse_topics(values: list[str]) -> dict[str, list[str]]:
    """`?topic=Job:web&topic=Allocation` as Nomad parses it ({"*": ["*"]} when none).

    Raises:
        ValueError: Nomad's text for a topic with more than one ':'.
    """
    if not values:
        return {"*": ["*"]}
    topics: dict[str, list[str]] = {}
    for raw in values:
        parts = raw.split(":")
        if len(parts) > 2:
            raise ValueError(f"error parsing topics: Invalid key value pair for topic, topic: {raw}")
        topic, key = (raw, "*") if len(parts) == 1 else (parts[0], parts[1])
        topics.setdefault(topic, []).append(key)
    return topics


def matches(event: dict[str, Any], topics: dict[str, list[str]], namespace: str) -> bool:
    """Nomad: stream/subscription.go filter for one event."""
    if namespace != "*" and event["Namespace"] and event["Namespace"] != namespace:
        return False
    keys = topics.get("*", []) + topics.get(event["Topic"], [])
    return any(key == "*" or key == event["Key"] or key in (event["FilterKeys"] or ()) for key in keys)


def filtered(batch: Events, topics: dict[str, list[str]], namespace: str) -> Events | None:
    """A buffered write's events that a subscription wants (None when none)."""
    events = [e for e in batch["Events"] if matches(e, topics, namespace)]
    return {"Index": batch["Index"], "Events": events} if events else None
