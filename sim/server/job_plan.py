"""The plan endpoint: a dry run of the real scheduler for a submitted job.

Nomad: nomad/job_endpoint.go Job.Plan. The job goes through admission (canonicalize, validate),
then the scheduler runs with a harness that commits nothing, against a read-only view of the
state in which the submitted job replaces the stored one as if it had been registered. The dry
run draws from its own random stream (a fixed child of the API stream, fresh per call), so
planning neither perturbs the run's other streams nor depends on earlier plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.scheduler.env import SchedulerEnv
from sim.scheduler.testing import Harness
from sim.structs.alloc import Allocation, AllocMetric
from sim.structs.codec import encode_job, jobs_spec_equal
from sim.structs.consts import EVAL_STATUS_PENDING, TRIGGER_JOB_REGISTER
from sim.structs.cron.expr import next_launch
from sim.structs.diff.annotate import annotate_diff
from sim.structs.diff.job import job_diff
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.job import Job
from sim.structs.plan import DesiredUpdates, Plan

if TYPE_CHECKING:
    from sim.server.server import Server
    from sim.state.store import StateStore

PLAN_STREAM_KEY = 0x706C616E  # "plan": the spawn key of the dry run's child stream
_WRITES = ("upsert_", "update_", "delete_", "set_", "refresh_", "subscribe")


@dataclass(slots=True)
class PlanOutcome:
    """Nomad: structs.JobPlanResponse, before encoding."""

    annotations: dict[str, DesiredUpdates] = field(default_factory=dict)
    failed_tg_allocs: dict[str, AllocMetric] = field(default_factory=dict)
    created_evals: list[Evaluation] = field(default_factory=list)
    job_modify_index: int = 0
    diff: dict[str, Any] | None = None
    next_periodic_launch: float | None = None  # Unix seconds
    warnings: str = ""
    preempted_allocs: list[Allocation] = field(default_factory=list)  # Annotations.PreemptedAllocs


def desired_updates_json(du: DesiredUpdates) -> dict[str, int]:
    """Nomad: structs.DesiredUpdates in its JSON form."""
    return {"Ignore": du.ignore, "Place": du.place, "Migrate": du.migrate, "Stop": du.stop,
            "InPlaceUpdate": du.in_place_update, "DestructiveUpdate": du.destructive_update,
            "Canary": du.canary, "Preemptions": du.preemptions, "RescheduleNow": du.reschedule_now,
            "RescheduleLater": du.reschedule_later}


class PlanState:
    """A read-only view of the state where one job is replaced by the planned one."""

    def __init__(self, state: StateStore, job: Job):
        self._state = state
        self._job = job
        self._key = job.ns_id
        self.index = state.index
        self.nodes = state.nodes

    def job_by_id(self, namespace: str, job_id: str) -> Job | None:
        """The planned job for its key, the stored job otherwise."""
        if (namespace, job_id) == self._key:
            return self._job
        return self._state.job_by_id(namespace, job_id)

    def __getattr__(self, name: str) -> Any:
        if name.startswith(_WRITES):
            raise AttributeError(f"the plan's state view is read-only ({name})")
        return getattr(self._state, name)


def plan_rng(api_rng: np.random.Generator) -> np.random.Generator:
    """A fresh generator on the fixed `plan` child of the API stream (the stream is not drawn)."""
    seq = api_rng.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):
        raise TypeError("the API stream was not seeded from a SeedSequence")
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, PLAN_STREAM_KEY))
    return np.random.default_rng(child)


def planned_job(state: StateStore, job: Job) -> tuple[Job, Job | None, bool]:
    """The job as the state would hold it once registered: (planned, existing, spec changed)."""
    existing = state.job_by_id(*job.ns_id)
    index = state.index + 1
    if existing is None:
        return replace(job, version=0, create_index=index, modify_index=index, job_modify_index=index,
                       status="pending"), None, True
    if jobs_spec_equal(existing, job):
        return existing, existing, False
    return replace(job, version=existing.version + 1, create_index=existing.create_index, modify_index=index,
                   job_modify_index=index, status=existing.status), existing, True


def plan(server: Server, job: Job, api_rng: np.random.Generator, diff: bool = False) -> PlanOutcome:
    """Nomad: Job.Plan: admit the job, schedule it on a dry-run harness, answer what would happen.

    Raises:
        ValidationError: the job failed admission (nothing ran, nothing was written).
    """
    server.jobs.admit(job)
    planned, existing, changed = planned_job(server.state, job)
    rng = plan_rng(api_rng)
    senv = SchedulerEnv(state=PlanState(server.state, planned), rng=rng, ids=IdGenerator(rng),
                        now=float(server.env.now), algorithm=server.state.scheduler_config.effective_algorithm(),
                        policy=server.policy, preemption=server.state.scheduler_config.preemption_config)
    ev = Evaluation(id=senv.ids.uuid(), namespace=planned.namespace or "default", priority=planned.priority,
                    type=planned.type, triggered_by=TRIGGER_JOB_REGISTER, job_id=planned.id,
                    job_modify_index=planned.job_modify_index if changed else 0,
                    status=EVAL_STATUS_PENDING, annotate_plan=True)
    harness = Harness(senv, commit=False)
    outcome = harness.process(ev)
    annotations = _annotations(harness.plans, planned)
    preempted = [a for allocs in harness.plans[-1].node_preemptions.values() for a in allocs] if harness.plans else []
    result = PlanOutcome(annotations=annotations, failed_tg_allocs=dict(outcome.eval.failed_tg_allocs),
                         preempted_allocs=preempted,
                         created_evals=list(outcome.create_evals),
                         job_modify_index=existing.job_modify_index if existing else 0)
    if diff:
        result.diff = job_diff(encode_job(existing) if existing else None, encode_job(job), True)
        annotate_diff(result.diff, {tg: desired_updates_json(du) for tg, du in annotations.items()})
    periodic = job.periodic
    if periodic is not None and job.is_periodic_active():
        specs = [periodic.spec] if periodic.spec else list(periodic.specs)
        result.next_periodic_launch = next_launch(specs, periodic.time_zone, server.unix_nanos() / 1e9)
    return result


def _annotations(plans: list[Plan], job: Job) -> dict[str, DesiredUpdates]:
    """The plan's DesiredTGUpdates; derived from its placements and stops when not annotated."""
    if plans and plans[-1].annotations is not None:
        return dict(plans[-1].annotations)
    out = {tg.name: DesiredUpdates() for tg in job.task_groups}
    for plan in plans[-1:]:
        for allocs in plan.node_update.values():
            for a in allocs:
                out.setdefault(a.task_group, DesiredUpdates()).stop += 1
        for allocs in plan.node_allocation.values():
            for a in allocs:
                du = out.setdefault(a.task_group, DesiredUpdates())
                if a.create_index:
                    du.in_place_update += 1
                else:
                    du.place += 1
    return out
