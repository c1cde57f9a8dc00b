"""Nomad's job validation, with its exact messages, nesting and multierror format.

`validate_job` mirrors what the register endpoint runs after canonicalization: Job.Validate
(which nests TaskGroup.Validate and Task.Validate and the blocks inside them) followed by the
jobValidate admission hook (core type, payload, priority range, total count). Every error is
collected; the ValidationError message is the text Nomad answers with, formatted as
hashicorp/go-multierror does ("1 error occurred:\\n\\t* msg\\n\\n"), nested errors nested as in
Nomad. `ValidationError.errors` lists every leaf as (field path, message) in Nomad's order.

Each check returns a list of entries; an entry is the text Nomad prints at that level plus the
leaves under it. Appending a block's list to its parent's reproduces multierror.Append's
flattening; `nest` reproduces an error wrapped with a prefix ("Task group web validation
failed: ..."). Job-level checks are here; groups and tasks are in validate_groups, the
blocks in validate_blocks and validate_placement, warnings in validate_warnings.
"""

from __future__ import annotations

from sim.errors import ValidationError
from sim.structs import consts as C
from sim.structs import job as J
from sim.structs.validate.blocks import (
    Entry,
    format_multierror,
    go_quote,
    leaf,
    nest,
    parameterized_errors,
    periodic_errors,
)
from sim.structs.validate.groups import group_errors
from sim.structs.validate.placement import affinity_errors, constraint_errors, spread_errors
from sim.structs.validate.warnings import format_warnings, job_warnings

__all__ = [
    "format_multierror",
    "format_warnings",
    "job_warnings",
    "validate_job",
    "validate_job_update",
]
_KNOWN_TYPES = (C.JOB_TYPE_CORE, *C.JOB_TYPES)
_BATCHES = (C.JOB_TYPE_BATCH, C.JOB_TYPE_SYSBATCH)


def validate_job(
    job: J.Job,
    *,
    max_priority: int = C.JOB_DEFAULT_MAX_PRIORITY,
    max_count: int = C.JOB_DEFAULT_MAX_COUNT,
    first: list[tuple[str, str]] | None = None,
) -> None:
    """Validate a canonicalized job as Nomad's register endpoint does.

    Nomad: nomad/structs/structs.go Job.Validate; nomad/job_endpoint_hooks.go jobValidate.

    `first` are (field, message) errors of the admission hooks that run before (Nomad: the
    namespace and node pool checks), reported first in the same multierror.

    Raises:
        ValidationError: all problems found; `.message` is Nomad's full text, `.field` the
            first problem's field path, `.errors` every (field path, message) leaf.
    """
    entries = [leaf(f, m) for f, m in first or ()] + _job_entries(job) + _hook_entries(job, max_priority, max_count)
    if entries:
        leaves = [pair for e in entries for pair in e.leaves]
        raise ValidationError(leaves[0][0], format_multierror([e.text for e in entries]), leaves)


def validate_job_update(old: J.Job | None, new: J.Job) -> None:
    """Reject updates Nomad forbids on an existing job (type, periodic, parameterized changes).

    Nomad: nomad/job_endpoint.go validateJobUpdate (a single plain error, no multierror).
    """
    problem = _update_problem(old, new)
    if problem:
        raise ValidationError(problem[0], problem[1])


def _update_problem(old: J.Job | None, new: J.Job) -> tuple[str, str] | None:
    """(field, message) of the first forbidden change, or None."""
    if old is None:
        if new.dispatched:
            return "Dispatched", "job can't be submitted with 'Dispatched' set"
        return None
    if old.type != new.type:
        return "Type", f"cannot update job from type {go_quote(old.type)} to {go_quote(new.type)}"
    if old.is_periodic() != new.is_periodic():
        which = "periodic job to being non-periodic" if old.is_periodic() else "non-periodic job to being periodic"
        return "Periodic", f"cannot update {which}"
    if old.is_parameterized() != new.is_parameterized():
        which = (
            "parameterized job to being non-parameterized"
            if old.is_parameterized()
            else "non-parameterized job to being parameterized"
        )
        return "ParameterizedJob", f"cannot update {which}"
    if old.dispatched != new.dispatched:
        return "Dispatched", "field 'Dispatched' is read-only"
    return None


def _job_entries(job: J.Job) -> list[Entry]:
    """Nomad: structs.Job.Validate."""
    errs = _identity_entries(job)
    errs += _placement_entries(job)
    errs += _group_list_entries(job)
    for i, tg in enumerate(job.task_groups):
        sub = group_errors(job, tg, f"TaskGroups[{i}]")
        if sub:
            errs.append(nest(f"Task group {tg.name} validation failed: ", sub))
    errs += _periodic_parameterized_entries(job)
    return errs


def _identity_entries(job: J.Job) -> list[Entry]:
    """Region, ID, name, namespace and type."""
    errs = []
    if not job.region and job.extra.get("Multiregion") is None:
        errs.append(leaf("Region", "Missing job region"))
    if not job.id:
        errs.append(leaf("ID", "Missing job ID"))
    elif " " in job.id:
        errs.append(leaf("ID", "Job ID contains a space"))
    elif "\x00" in job.id:
        errs.append(leaf("ID", "Job ID contains a null character"))
    if not job.name:
        errs.append(leaf("Name", "Missing job name"))
    elif "\x00" in job.name:
        errs.append(leaf("Name", "Job Name contains a null character"))
    if not job.namespace:
        errs.append(leaf("Namespace", "Job must be in a namespace"))
    if not job.type:
        errs.append(leaf("Type", "Missing job type"))
    elif job.type not in _KNOWN_TYPES:
        errs.append(leaf("Type", f"Invalid job type: {go_quote(job.type)}"))
    return errs


def _placement_entries(job: J.Job) -> list[Entry]:
    """Datacenters, groups present, job-level constraints, affinities, spreads and descriptions."""
    errs = []
    if not job.datacenters and job.extra.get("Multiregion") is None:
        errs.append(leaf("Datacenters", "Missing job datacenters"))
    for i, dc in enumerate(job.datacenters or ()):
        if dc == "":
            errs.append(leaf(f"Datacenters[{i}]", "Job datacenter must be non-empty string"))
    if not job.task_groups:
        errs.append(leaf("TaskGroups", "Missing job task groups"))
    errs += constraint_errors(job.constraints, "Constraints")
    system = job.type == C.JOB_TYPE_SYSTEM
    errs += affinity_errors(job.affinities, "Affinities", system)
    errs += spread_errors(job.spreads, "Spreads", system)
    errs += _description_entries(job)
    return errs


def _description_entries(job: J.Job) -> list[Entry]:
    """The UI and version-tag descriptions stay under 1000 bytes."""
    errs = []
    ui = job.extra.get("UI")
    for value, field, what in (
        (ui, "UI.Description", "UI description"),
        (job.version_tag, "VersionTag.Description", "Tagged version description"),
    ):
        text = value.get("Description") if isinstance(value, dict) else None
        if isinstance(text, str) and len(text.encode()) > 1000:
            errs.append(leaf(field, f"{what} must be under 1000 characters, currently {len(text.encode())}"))
    return errs


def _group_list_entries(job: J.Job) -> list[Entry]:
    """Per group, the checks Job.Validate makes itself: names, shutdown delay, system counts."""
    errs: list[Entry] = []
    seen: dict[str, int] = {}
    for i, tg in enumerate(job.task_groups):
        path = f"TaskGroups[{i}]"
        if not tg.name:
            errs.append(leaf(f"{path}.Name", f"Job task group {i + 1} missing name"))
        elif tg.name in seen:
            msg = f"Job task group {i + 1} redefines '{tg.name}' from group {seen[tg.name] + 1}"
            errs.append(leaf(f"{path}.Name", msg))
        else:
            seen[tg.name] = i
        if tg.shutdown_delay is not None and tg.shutdown_delay < 0:
            errs.append(leaf(f"{path}.ShutdownDelay", "ShutdownDelay must be a positive value"))
        count = tg.count or 0
        if job.type == C.JOB_TYPE_SYSTEM and count > 1:
            msg = f"Job task group {tg.name} has count {count}. Count cannot exceed 1 with system scheduler"
            errs.append(leaf(f"{path}.Count", msg))
    return errs


def _periodic_parameterized_entries(job: J.Job) -> list[Entry]:
    """The periodic and parameterized blocks (batch and sysbatch only)."""
    errs = []
    if job.periodic is not None and job.periodic.enabled:
        if job.type not in _BATCHES:
            errs.append(leaf("Periodic", 'Periodic can only be used with "batch" or "sysbatch" scheduler'))
        sub = periodic_errors(job.periodic, "Periodic")
        if sub:
            errs.append(nest("", sub))
    parameterized = job.parameterized_job
    if parameterized is not None and job.is_parameterized():
        if job.type not in _BATCHES:
            msg = 'Parameterized job can only be used with "batch" or "sysbatch" scheduler'
            errs.append(leaf("ParameterizedJob", msg))
        sub = parameterized_errors(parameterized, "ParameterizedJob")
        if sub:
            errs.append(nest("", sub))
    return errs


def _hook_entries(job: J.Job, max_priority: int, max_count: int) -> list[Entry]:
    """Nomad: nomad/job_endpoint_hooks.go jobValidate.Validate (after Job.Validate)."""
    errs = []
    if job.type == C.JOB_TYPE_CORE:
        errs.append(leaf("Type", "job type cannot be core"))
    if job.payload:
        errs.append(leaf("Payload", "job can't be submitted with a payload, only dispatched"))
    if not C.JOB_MIN_PRIORITY <= job.priority <= max_priority:
        msg = f"job priority must be between [{C.JOB_MIN_PRIORITY}, {max_priority}]"
        errs.append(leaf("Priority", msg))
    total = sum(tg.count or 0 for tg in job.task_groups)
    if max_count > 0 and total > max_count:
        msg = f"total count was greater than configured job_max_count: {total} > {max_count}"
        errs.append(leaf("TaskGroups", msg))
    return errs
