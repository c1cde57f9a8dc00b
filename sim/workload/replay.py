"""Workload replay: the scenario's job actions, generators and events as SimPy processes.

Timed actions are timers (one callback each, firing in workload order at equal times) that call
the server's domain logic, as the API would: register (JSON, or an HCL file parsed at run time),
update, deregister, dispatch, revert, promote. Registers with `after` go through a
`sim.workload.dags.Workflow`, which waits for their parents to complete. Generators are one process each,
however many jobs they submit: `generate` (Poisson or fixed-rate arrivals of jobs built from a
template with sampled count, cpu, memory and runtime), `dispatch_generate` (dispatches of a
parameterized job) and `trace` (one process walking a trace's sorted submissions). Node events
are sim.workload.events. Each generator draws from its own child of the `workload` stream.

A rejected action (a validation error at run time, an unknown job, a failed DAG parent) never
stops the run: it is kept in `errors` and in the `workload_errors` table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.client.behavior import check_job_meta
from sim.errors import SimError
from sim.scenario.actions import (
    Deregister,
    Dispatch,
    DispatchGenerate,
    Generate,
    Promote,
    Register,
    Revert,
    TraceSpec,
    Update,
    apply_set,
)
from sim.scenario.topology import Topology
from sim.structs.codec import decode_job, encode_job
from sim.workload.dags import Workflow
from sim.workload.events import NodeEvents
from sim.workload.trace_report import TraceReport, trace_report

if TYPE_CHECKING:
    import simpy

    from sim.world import World

NAMESPACE = "default"
RUNTIME_META = "sim.runtime"
GENERATED_KEYS = ("count", "cpu", "memory", "runtime")


class Workload:
    """Replays a scenario's workload and events in a simulation."""

    def __init__(self, sim: World):
        self.sim = sim
        self.env = sim.env
        self.server = sim.server
        self.rng = sim.rngs["workload"]
        self.errors: list[tuple[float, str, str, str]] = []  # (time, action, job, message)
        self.topology = Topology.from_cluster(sim.state.nodes.nodes, sim.scenario.cluster)
        self.submitted: dict[str, int] = {}  # generator kind -> jobs it submitted
        self.trace_reports: list[TraceReport] = []  # one per trace loaded, in load order
        actions = sim.scenario.workload
        registers = [(i, a) for i, a in enumerate(actions) if isinstance(a, Register)]
        self.workflow = None
        if any(a.after for _, a in registers):
            self.workflow = Workflow(sim.env, sim.state, registers, self._register, self.reject)
        for action in actions:
            self._schedule(action)
        self.events = NodeEvents(sim, self.topology, self.reject)

    def release(self) -> None:
        """The run is over (`Simulation.release`): drop the references to its world; the errors,
        topology, trace reports and counts stay."""
        del self.env, self.server, self.events
        self.workflow = None

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, action: Any) -> None:
        if isinstance(action, Generate | DispatchGenerate | TraceSpec):  # started by a timer: keeps workload order
            rng = self.rng.spawn(1)[0]  # each generator its own stream: adding one never shifts another's draws
            self.at(self.env.now, lambda: self.env.process(self._generator(action, rng)))
            return
        workflow = self.workflow
        if isinstance(action, Register) and workflow is not None and action.source.job_id in workflow.graph:
            self.at(action.at, lambda: workflow.arm(action))  # DAG roots too: a rejected root skips its dependents
            return
        handler = getattr(self, f"_{type(action).KIND}")
        self.at(action.at, lambda: handler(action))

    def at(self, when: float, fn: Callable[[], object]) -> None:
        """Call `fn()` at simulated time `when` (now if it has passed); what it returns is ignored."""
        timer = self.env.timeout(max(0.0, when - self.env.now))

        def call(_event: simpy.Event) -> None:
            fn()

        timer.callbacks.append(call)

    def reject(self, action: str, job: str, message: str) -> None:
        """Record an action that could not run."""
        now = float(self.env.now)
        self.errors.append((now, action, job, message))
        self.sim.recorder.add("workload_errors", now, action, job, message)

    def _guard(self, action: str, job: str, fn: Callable[[], Any]) -> Any:
        """Run `fn`, recording (not raising) the SimErrors a user's workload can cause."""
        try:
            return fn()
        except SimError as err:
            self.reject(action, job, str(err))
            return None

    # -- job actions --------------------------------------------------------------------------

    def _register(self, action: Register) -> bool:
        """Register the action's job; False when it was rejected."""
        source = action.source
        job_id = source.job_id or (source.path or "")
        done = self._guard("register", job_id,
                           lambda: self.submit(source.job if source.job is not None else _hcl(source.path)))
        return done is not None

    def submit(self, job: dict[str, Any]) -> Any:
        """Register a job given in Nomad's JSON form (raises SimError when it is rejected, a bad
        `sim.*` meta value included, as the API rejects it)."""
        decoded = decode_job(job)
        check_job_meta(decoded)
        return self.server.jobs.register(decoded)

    def _update(self, action: Update) -> None:
        def run() -> None:
            job = self.sim.state.job_by_id(NAMESPACE, action.job)
            if job is None:
                raise SimError(f"job {action.job!r} not found")
            spec = encode_job(job)
            for path, value in action.set.items():
                try:
                    spec = apply_set(spec, path, value)
                except KeyError as err:
                    raise SimError(f"no such field in job {action.job!r}: {err.args[0]}") from None
            self.submit(spec)

        self._guard("update", action.job, run)

    def _deregister(self, action: Deregister) -> None:
        self._guard("deregister", action.job,
                    lambda: self.server.jobs.deregister(NAMESPACE, action.job, purge=action.purge))

    def _dispatch(self, action: Dispatch) -> str | None:
        return self.dispatch(action.job, action.meta, action.payload)

    def dispatch(self, job: str, meta: dict[str, str], payload: str, runtime: float | None = None) -> str | None:
        """Dispatch a parameterized job; returns the child's ID (None when rejected).

        A sampled `runtime` is set as the child's `sim.runtime` meta, as the dispatcher's own note
        (Nomad would reject it as request meta the parent does not permit).
        """
        from sim.server.dispatch import DispatchRequest, dispatch

        req = DispatchRequest(job_id=job, payload=payload.encode("utf-8"), meta=dict(meta))
        result = self._guard("dispatch", job, lambda: dispatch(self.server, NAMESPACE, req))
        if result is None:
            return None
        if runtime is not None:
            child = self.sim.state.job_by_id(NAMESPACE, result.dispatched_job_id)
            if child is None:  # dispatch() has just written it
                raise SimError(f"dispatched job {result.dispatched_job_id!r} is not in the state")
            child.meta = {**child.meta, RUNTIME_META: _seconds(runtime)}
        return result.dispatched_job_id

    def _revert(self, action: Revert) -> None:
        from sim.server.job_versions import revert

        self._guard("revert", action.job, lambda: revert(self.server, NAMESPACE, action.job, action.version))

    def _promote(self, action: Promote) -> None:
        def run() -> None:
            dep = self.sim.state.latest_deployment(NAMESPACE, action.job)
            if dep is None:
                raise SimError(f"job {action.job!r} has no deployment to promote")
            self.server.deployment_watcher.promote(dep.id)

        self._guard("promote", action.job, run)

    # -- generators: one process each -----------------------------------------------------------

    def _generator(self, spec: Generate | DispatchGenerate | TraceSpec, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        kind = type(spec).KIND
        self.submitted.setdefault(kind, 0)
        source = self._trace(spec) if isinstance(spec, TraceSpec) else self._arrivals(spec, rng)
        for when, fire in source:
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            fire()
            self.submitted[kind] += 1

    def _arrivals(self, spec: Generate | DispatchGenerate,
                  rng: np.random.Generator) -> Iterator[tuple[float, Callable[[], None]]]:
        """Arrival times in [start, stop), at most `count`, each with what to submit then."""
        t, n = spec.start, 0
        poisson = spec.arrival == "poisson"
        while spec.count is None or n < spec.count:
            t = t + float(rng.exponential(1.0 / spec.rate)) if poisson else spec.start + n / spec.rate
            if t >= spec.stop:
                return
            sizes = {k: float(spec.distributions[k].sample(rng, 1)[0]) for k in GENERATED_KEYS
                     if k in spec.distributions}
            if isinstance(spec, Generate):
                yield t, _bind(self._generated, spec, n, sizes)
            else:
                yield t, _bind(self.dispatch, spec.job, spec.meta, spec.payload, sizes.get("runtime"))
            n += 1

    def _generated(self, spec: Generate, n: int, sizes: dict[str, float]) -> None:
        job = generated_job(spec, n, sizes)
        self._guard("generate", job["ID"], lambda: self.submit(job))

    def _trace(self, spec: TraceSpec) -> Iterator[tuple[float, Callable[[], None]]]:
        subs = self._guard("trace", spec.path, lambda: _load_trace(spec)) or []
        if subs:
            report = trace_report(subs, self.sim.state.nodes)
            self.trace_reports.append(report)
            self.sim.recorder.add("trace_reports", float(self.env.now), Path(spec.path).name, spec.format, report.submissions,
                                  report.fractional_gpu, len(report.never_placeable), report.ids_text())
        for sub in subs:
            yield sub.offset, _bind(self._trace_job, sub)

    def _trace_job(self, sub: Any) -> None:
        job = sub.job
        runtime = "inf" if sub.runtime is None else _seconds(sub.runtime)
        for group in job["TaskGroups"]:
            for task in group["Tasks"]:
                task["Meta"] = {**(task.get("Meta") or {}), RUNTIME_META: runtime}
        self._guard("trace", sub.job_id, lambda: self.submit(job))


def generated_job(spec: Generate, n: int, sizes: dict[str, float]) -> dict[str, Any]:
    """Job `n` of a `generate` action: the template with its ID and sampled sizes.

    `count` sets every group's Count, `cpu` and `memory` every task's resources, `runtime` every
    task's `sim.runtime` meta (seconds); values are rounded and kept at least 1.
    """
    job = copy.deepcopy(spec.template.job) if spec.template.job is not None else _hcl(spec.template.path)
    job["ID"] = job["Name"] = f"{spec.id_prefix}-{n}"
    if spec.type:
        job["Type"] = spec.type
    for group in job.get("TaskGroups") or []:
        if "count" in sizes:
            group["Count"] = max(1, round(sizes["count"]))
        for task in group.get("Tasks") or []:
            resources = task.setdefault("Resources", {}) or {}
            task["Resources"] = resources
            if "cpu" in sizes:
                resources["CPU"] = max(1, round(sizes["cpu"]))
            if "memory" in sizes:
                resources["MemoryMB"] = max(1, round(sizes["memory"]))
            if "runtime" in sizes:
                task["Meta"] = {**(task.get("Meta") or {}), RUNTIME_META: _seconds(sizes["runtime"])}
    return job


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    return lambda: fn(*args)


def _seconds(value: float) -> str:
    """A duration in seconds as `sim.*` meta carries it (plain seconds, enough digits to round-trip)."""
    return repr(max(0.0, float(value)))


def _hcl(path: str | None) -> dict[str, Any]:
    """An HCL job file in Nomad's JSON form (SimError when it cannot be read or parsed)."""
    from sim.structs.hcl import parse_job_hcl

    try:
        return parse_job_hcl(Path(path or "").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SimError(f"{path}: {err}") from None


def _load_trace(spec: TraceSpec) -> list[Any]:
    """The trace's submissions (SimError when the file cannot be read or parsed)."""
    try:
        return spec.load()
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as err:
        raise SimError(f"{spec.path}: cannot read {spec.format} trace: {err}") from None
