"""The periodic dispatcher: launches the children of periodic jobs at their cron instants.

Nomad: nomad/periodic.go (PeriodicDispatch, Server.DispatchJob, Server.RunningChildren) and
nomad/periodic_endpoint.go (Periodic.Force). The dispatcher tracks every active periodic parent
(it is one of the FSM's job watchers) and runs one SimPy process per parent. A
process sleeps until the parent's next launch; a change to the parent bumps the parent's
generation and starts a fresh process, so a superseded process wakes once, sees it is stale and
ends (no polling). Launch instants are computed in the job's time zone, always strictly after the
time they are computed from: the registration (or update) time first, then each launch time.

Wiring: `PeriodicDispatcher(env, state, jobs, clock)`: children are registered through `jobs`
(JobEvalDispatcher, the job endpoint).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

import simpy

from sim.errors import ValidationError
from sim.server.clock import Clock
from sim.server.jobs import WriteResult
from sim.state.store import StateStore
from sim.structs.codec import copy_job
from sim.structs.consts import TRIGGER_PERIODIC_JOB
from sim.structs.cron.expr import next_launch
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, JobKey, PeriodicConfig

PERIODIC_LAUNCH_SUFFIX = "/periodic-"
SPEC_TYPE_TEST = "_internal_test"


@dataclass(frozen=True, slots=True)
class Launch:
    """One launch decision: `outcome` is "launched", "forced" or "skipped" (ProhibitOverlap)."""

    time: float  # simulated seconds
    namespace: str
    parent_id: str
    child_id: str
    launch_unix: int
    outcome: str
    eval_id: str = ""


def periodic_next(config: PeriodicConfig, after_unix: float) -> int | None:
    """The first launch strictly after `after_unix` (Unix seconds), or None if there is none.

    Nomad: nomad/structs/structs.go, PeriodicConfig.Next (cron specs, or the test spec type's
    comma-separated Unix times).
    """
    if config.spec_type == SPEC_TYPE_TEST:
        try:
            times = [int(t) for t in config.spec.split(",")] if config.spec else []
        except ValueError:
            return None
        return next((t for t in times if t > after_unix), None)
    specs = [config.spec] if config.spec else list(config.specs)
    at = next_launch(specs, config.time_zone, after_unix)
    return None if at is None else int(at)


def derived_job_id(parent_id: str, launch_unix: int) -> str:
    """Nomad: PeriodicDispatch.derivedJobID: `<parent>/periodic-<unix seconds>`."""
    return f"{parent_id}{PERIODIC_LAUNCH_SUFFIX}{launch_unix}"


def derive_child(parent: Job, launch_unix: int) -> Job:
    """Nomad: PeriodicDispatch.deriveJob: a non-periodic copy with a derived ID, status cleared."""
    child = copy_job(parent)
    child.parent_id = parent.id
    child.id = derived_job_id(parent.id, launch_unix)
    child.name = child.id
    child.periodic = None
    child.status = ""
    child.status_description = ""
    return child


def _config(job: Job) -> PeriodicConfig:
    """The periodic block of a tracked parent (only jobs with one are tracked)."""
    if job.periodic is None:
        raise AssertionError(f"tracked periodic job {job.id} has no periodic block")
    return job.periodic


class JobEvalDispatcher(Protocol):
    """How the dispatcher registers a child. Nomad: nomad/periodic.go, JobEvalDispatcher."""

    def register(self, job: Job, *, admitted: bool, triggered_by: str) -> WriteResult: ...


class PeriodicDispatcher:
    """Tracks active periodic parents and launches their children over simulated time."""

    def __init__(self, env: simpy.Environment, state: StateStore, jobs: JobEvalDispatcher, clock: Clock):
        self.env = env
        self.state = state
        self.jobs = jobs
        self.clock = clock
        self._tracked: dict[JobKey, Job] = {}
        self._next: dict[JobKey, int | None] = {}
        self._generation: dict[JobKey, int] = {}
        self._children: dict[JobKey, dict[str, None]] = {}  # parent key -> periodic child IDs, oldest first
        self.launches: list[Launch] = []

    # -- tracking ---------------------------------------------------------------------------

    def on_job(self, job: Job, purged: bool) -> None:
        """Nomad: PeriodicDispatch.Add / Remove, called after every job write."""
        if job.parent_id and PERIODIC_LAUNCH_SUFFIX in job.id:
            self._note_child(job, purged)
        key = job.ns_id
        if purged or job.periodic is None or not job.is_periodic_active():
            self._untrack(key)
            return
        self._tracked[key] = job
        self._next[key] = periodic_next(job.periodic, self._now_unix())
        generation = self._generation.get(key, 0) + 1
        self._generation[key] = generation
        self.env.process(self._launcher(key, generation))

    def _untrack(self, key: JobKey) -> None:
        if self._tracked.pop(key, None) is not None:
            self._next.pop(key, None)
            self._generation[key] = self._generation.get(key, 0) + 1  # ends the parent's process

    def _note_child(self, job: Job, purged: bool) -> None:
        children = self._children.setdefault((job.ns_id[0], job.parent_id), {})
        if purged:
            children.pop(job.id, None)
        else:
            children[job.id] = None

    def tracked(self, namespace: str, job_id: str) -> bool:
        """Whether the dispatcher tracks this job (an active periodic parent)."""
        return (namespace or "default", job_id) in self._tracked

    def tracked_jobs(self) -> list[Job]:
        """Nomad: PeriodicDispatch.Tracked, sorted by (namespace, ID)."""
        return [self._tracked[k] for k in sorted(self._tracked)]

    def next_launch_time(self, job: Job, after_unix: float | None = None) -> int | None:
        """The job's next launch (Unix seconds) after `after_unix` (default: now), or None.

        None for jobs that are not active periodic jobs (the plan endpoint's zero time).
        """
        if job.periodic is None or not job.is_periodic_active():
            return None
        return periodic_next(job.periodic, self._now_unix() if after_unix is None else after_unix)

    def scheduled(self, namespace: str, job_id: str) -> int | None:
        """The launch a tracked parent's process waits for (Unix seconds), or None."""
        return self._next.get((namespace or "default", job_id))

    # -- launching --------------------------------------------------------------------------

    def _launcher(self, key: JobKey, generation: int) -> Generator[simpy.Event, Any, None]:
        """Nomad: PeriodicDispatch.run, for one parent: sleep until each launch, then dispatch."""
        env = self.env
        while self._generation.get(key) == generation:
            launch = self._next.get(key)
            if launch is None:
                return
            delay = launch - self.clock.start_unix - env.now
            if delay > 0:
                yield env.timeout(delay)
            if self._generation.get(key) != generation:
                return
            self._dispatch(key, launch)

    def _dispatch(self, key: JobKey, launch_unix: int) -> None:
        """Nomad: PeriodicDispatch.dispatch: schedule the next launch, then launch unless overlapping."""
        job = self._tracked[key]
        periodic = _config(job)
        self._next[key] = periodic_next(periodic, launch_unix)
        if periodic.prohibit_overlap and self.running_children(job):
            self.launches.append(Launch(float(self.env.now), key[0], job.id, derived_job_id(job.id, launch_unix),
                                        launch_unix, "skipped"))
            return
        self._launch(job, launch_unix, "launched")

    def _launch(self, parent: Job, launch_unix: int, outcome: str) -> Evaluation:
        """Nomad: PeriodicDispatch.createEval + Server.DispatchJob: the child and its eval, one write."""
        child = derive_child(parent, launch_unix)
        result = self.jobs.register(child, admitted=True, triggered_by=TRIGGER_PERIODIC_JOB)
        ev = self.state.eval_by_id(result.eval_id)
        self.launches.append(Launch(float(self.env.now), child.ns_id[0], parent.id, child.id, launch_unix,
                                    outcome, result.eval_id))
        if ev is None:  # (a child is never parameterized or periodic: it always gets an eval)
            raise AssertionError(f"periodic child {child.id} has no eval")
        return ev

    def running_children(self, job: Job) -> bool:
        """Nomad: Server.RunningChildren: any child with a non-terminal eval or alloc."""
        state = self.state
        namespace = job.ns_id[0]
        for child_id in reversed(self._children.get((namespace, job.id), {})):  # newest first: likeliest live
            if any(not ev.terminal() for ev in state.evals_by_job(namespace, child_id)):
                return True
            if any(not alloc.terminal() for alloc in state.allocs_by_job(namespace, child_id)):
                return True
        return False

    def children(self, namespace: str, parent_id: str) -> list[str]:
        """IDs of the periodic children launched for a parent and not purged, oldest first."""
        return list(self._children.get((namespace or "default", parent_id), {}))

    # -- force ------------------------------------------------------------------------------

    def force_run(self, namespace: str, job_id: str) -> Evaluation:
        """Launch a child now, regardless of overlap. Nomad: Periodic.Force and PeriodicDispatch.ForceEval.

        Returns the child's eval: its ID and CreateIndex are the answer's EvalID,
        EvalCreateIndex and Index.

        Raises:
            ValidationError: the job is missing, not periodic, or not tracked (nothing written).
        """
        namespace = namespace or "default"
        job = self.state.job_by_id(namespace, job_id)
        if job is None:
            raise ValidationError("JobID", "job not found")
        if not job.is_periodic():
            raise ValidationError("JobID", "can't force launch non-periodic job")
        tracked = self._tracked.get((namespace, job_id))
        if tracked is None:
            raise ValidationError("JobID", f'force launch for job "{job_id}" failed: '
                                           f'can\'t force run non-tracked job "{job_id}" ({namespace})')
        return self._launch(tracked, self._now_unix(), "forced")

    def _now_unix(self) -> int:
        """Simulated now as whole Unix seconds (Go's time.Unix())."""
        return self.clock.unix_seconds()
