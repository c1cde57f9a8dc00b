"""The workload part of a scenario: job sources, actions, and the checks across actions.

Job files are read here (JSON parsed and unwrapped; HCL only located, its ID read from the
`job "<id>"` label) so a scenario that loads never fails later on a missing or malformed file.
Cross-checks: every job an action names is registered by the workload no later than the action,
`update` paths exist in the job, dispatch targets are parameterized, `after` has no cycle, and
periodic jobs have valid cron specs (sim.structs.cron.expr).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError, SimError, ValidationError, did_you_mean
from sim.scenario.actions import (
    Action,
    Deregister,
    Dispatch,
    DispatchGenerate,
    Generate,
    JobSource,
    Promote,
    Register,
    Revert,
    TraceSpec,
    Update,
    apply_set,
)
from sim.scenario.build import (
    Context,
    distribution,
    duration_or,
    field_value,
    parse_rate,
    read_json,
    strings,
)
from sim.scenario.traces import Machine, check_trace
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job
from sim.structs.consts import JOB_DEFAULT_MAX_PRIORITY, JOB_MIN_PRIORITY
from sim.structs.cron.expr import parse_cron
from sim.structs.validate.job import validate_job

KINDS = ("register", "update", "deregister", "dispatch", "revert", "promote", "generate", "dispatch_generate", "trace")
GENERATORS = ("generate", "dispatch_generate", "trace")
HCL_SUFFIXES = (".hcl", ".nomad")
_HCL_JOB_LABEL = re.compile(r'^\s*job\s+"([^"]+)"\s*\{', re.MULTILINE)


# --- job sources --------------------------------------------------------------------------------


def job_source(value: Any, path: str, ctx: Context, needs_id: bool = True) -> JobSource:
    """A job from a file path (JSON or HCL, relative to the scenario) or an inline mapping."""
    if isinstance(value, Mapping):
        job = _unwrap(value, path)
    else:
        file = (ctx.base_dir / value).resolve()
        if file.suffix in HCL_SUFFIXES:
            return _hcl_source(file, path)
        if file.suffix != ".json":
            raise ScenarioError(path, f"unsupported job file {value!r}: use .json, .hcl or .nomad")
        job = _unwrap(read_json(file, path), path)
    job_id = job.get("ID")
    if needs_id and (not isinstance(job_id, str) or not job_id):
        raise ScenarioError(path, "the job has no ID")
    check_cron(job, path)
    if needs_id:
        check_registration(job, path)
    return JobSource(job, None, job_id if isinstance(job_id, str) else None)


def check_registration(job: Mapping[str, Any], path: str) -> None:
    """The job passes what registration checks: decoding, then Nomad's admission (canonicalize, validate)."""
    try:
        decoded = decode_job({"Job": copy.deepcopy(dict(job))})
        canonicalize(decoded)
        validate_job(decoded)
    except ValidationError as err:
        raise ScenarioError(path, f"job {job.get('ID')!r} would be rejected at registration: {err.message}") from None
    if not JOB_MIN_PRIORITY <= decoded.priority <= JOB_DEFAULT_MAX_PRIORITY:
        raise ScenarioError(path, f"job {job.get('ID')!r} would be rejected at registration: job priority must be "
                                  f"between [{JOB_MIN_PRIORITY}, {JOB_DEFAULT_MAX_PRIORITY}]")


def _unwrap(value: Any, path: str) -> dict[str, Any]:
    """The job object, with or without the {"Job": ...} wrapper."""
    if isinstance(value, Mapping) and set(value) == {"Job"}:
        value = value["Job"]
    if not isinstance(value, Mapping):
        raise ScenarioError(path, f"a job must be a mapping, got {type(value).__name__}")
    return dict(value)


def _hcl_source(file: Path, path: str) -> JobSource:
    if not file.is_file():
        raise ScenarioError(path, f"file not found: {file}")
    match = _HCL_JOB_LABEL.search(file.read_text(encoding="utf-8", errors="replace"))
    return JobSource(None, str(file), match.group(1) if match else None)


def check_cron(job: Mapping[str, Any], path: str) -> None:
    """Each cron spec of a periodic job must parse."""
    periodic = job.get("Periodic")
    if not isinstance(periodic, Mapping) or (periodic.get("SpecType") or "cron") != "cron":
        return
    many = periodic.get("Specs") or []
    if not isinstance(many, list):
        raise ScenarioError(f"{path}.Periodic.Specs", "Specs must be a list of cron specs")
    specs = [("Spec", periodic["Spec"])] if periodic.get("Spec") else []
    specs += [(f"Specs[{i}]", s) for i, s in enumerate(many)]
    for key, spec in specs:
        if not isinstance(spec, str):
            raise ScenarioError(f"{path}.Periodic.{key}", f"a cron spec must be a string, got {spec!r}")
        try:
            parse_cron(spec)
        except (ValueError, TypeError, SimError) as exc:
            raise ScenarioError(f"{path}.Periodic.{key}", f"Invalid cron spec {spec!r}: {exc}") from None


# --- actions ------------------------------------------------------------------------------------


def build_action(raw: Mapping[str, Any], path: str, ctx: Context) -> Action:
    """One workload item; job operations need `at`, generators default it to 0."""
    kind = next(k for k in KINDS if k in raw)
    if "after" in raw and kind != "register":
        raise ScenarioError(f"{path}.after", f"after applies to register only, not {kind}")
    if kind not in GENERATORS and "at" not in raw:
        raise ScenarioError(f"{path}.at", f"required key 'at' is missing for {kind}")
    at = duration_or(raw, "at", path, 0.0)
    body, sub = raw[kind], f"{path}.{kind}"
    if kind == "register":
        return Register(at, job_source(body, sub, ctx), tuple(raw.get("after", ())))
    if kind == "generate":
        return _generate(body, sub, ctx, at)
    if kind == "dispatch_generate":
        return _dispatch_generate(body, sub, ctx, at)
    if kind == "trace":
        return _trace(body, sub, ctx, at)
    return _job_operation(kind, body, sub, at)


def _job_operation(kind: str, body: Mapping[str, Any], path: str, at: float) -> Action:
    job = body["job"]
    if kind == "update":
        for key in body["set"]:
            if not key or any(not part for part in re.sub(r"\[(\d+)\]", r".\1", key).split(".")):
                raise ScenarioError(f"{path}.set.{key}", f"invalid job path {key!r}: use dotted PascalCase like TaskGroups.web.Count")
        return Update(at, job, dict(body["set"]))
    if kind == "deregister":
        return Deregister(at, job, body.get("purge", False))
    if kind == "dispatch":
        return Dispatch(at, job, strings(body.get("meta")), body.get("payload", ""))
    if kind == "revert":
        return Revert(at, job, body["version"])
    return Promote(at, job)


def _window(body: Mapping[str, Any], path: str, ctx: Context, at: float) -> tuple[float, float, float]:
    """start (default `at`), stop (default the run's end) and the rate, checked."""
    start = duration_or(body, "start", path, at)
    stop = duration_or(body, "stop", path, ctx.duration)
    if stop <= start:
        raise ScenarioError(f"{path}.stop", f"stop ({stop:g}s) must be after start ({start:g}s)")
    return start, stop, field_value(body, "rate", path, parse_rate)


def _generate(body: Mapping[str, Any], path: str, ctx: Context, at: float) -> Generate:
    start, stop, rate = _window(body, path, ctx, at)
    template = job_source(body["template"], f"{path}.template", ctx, needs_id=False)
    dists = {
        key: distribution(spec, f"{path}.distributions.{key}", seconds=key == "runtime")
        for key, spec in (body.get("distributions") or {}).items()
    }
    prefix = body.get("id_prefix") or template.job_id or "job"
    return Generate(start, stop, rate, template, body.get("arrival", "poisson"), body.get("count"), dists, body.get("type"), prefix)


def _dispatch_generate(body: Mapping[str, Any], path: str, ctx: Context, at: float) -> DispatchGenerate:
    start, stop, rate = _window(body, path, ctx, at)
    dists = {k: distribution(v, f"{path}.distributions.{k}", seconds=True) for k, v in (body.get("distributions") or {}).items()}
    return DispatchGenerate(
        start, stop, rate, body["job"], body.get("arrival", "poisson"), body.get("count"),
        strings(body.get("meta")), body.get("payload", ""), dists,
    )


def _trace(body: Mapping[str, Any], path: str, ctx: Context, at: float) -> TraceSpec:
    file = (ctx.base_dir / body["path"]).resolve()
    if not file.is_file():
        raise ScenarioError(f"{path}.path", f"file not found: {file}")
    try:
        check_trace(body["format"], file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}.path", str(exc)) from None
    machine = Machine(**(body.get("machine") or {}))
    scale = (body.get("time_scale", 1.0), body.get("runtime_scale", 1.0))
    return TraceSpec(at, body["format"], str(file), machine, body.get("limit"), float(scale[0]), float(scale[1]))


def build_workload(raw: list[Mapping[str, Any]], ctx: Context) -> tuple[Action, ...]:
    """All workload actions in the order written, cross-checked."""
    actions = tuple(build_action(item, f"workload[{i}]", ctx) for i, item in enumerate(raw))
    check_workload(actions)
    return actions


# --- cross-checks -------------------------------------------------------------------------------


def check_workload(actions: tuple[Action, ...]) -> None:
    """Job references, update paths, dispatch targets and `after` cycles."""
    registers = [(i, a) for i, a in enumerate(actions) if isinstance(a, Register)]
    complete = all(a.source.job_id for _, a in registers)  # an HCL job without a label hides IDs
    known: dict[str, Register] = {}
    for _, register in registers:
        first = known.get(register.source.job_id or "")
        if first is None or register.at < first.at:
            known[register.source.job_id or ""] = register
    for i, action in enumerate(actions):
        path = f"workload[{i}].{_kind(action)}"
        job_id = getattr(action, "job", None)
        if isinstance(job_id, str) and complete:
            _check_reference(job_id, action, path, known)
        if isinstance(job_id, str) and job_id in known:
            _check_target(action, path, known[job_id])
    for i, register in registers:
        for j, dep in enumerate(register.after):
            if complete and dep not in known:
                raise ScenarioError(f"workload[{i}].after[{j}]", f"job {dep!r} is not registered by this workload{did_you_mean(dep, known)}")
            if dep == register.source.job_id:
                raise ScenarioError(f"workload[{i}].after[{j}]", "a job cannot wait for itself")
    _check_cycles(registers)


def _kind(action: Action) -> str:
    return type(action).KIND


def _check_reference(job_id: str, action: Action, path: str, known: dict[str, Register]) -> None:
    if job_id not in known:
        raise ScenarioError(f"{path}.job", f"job {job_id!r} is not registered by this workload{did_you_mean(job_id, known)}")
    first = known[job_id]
    start = getattr(action, "at", None)
    start = getattr(action, "start", start)
    if start is not None and first.at > start and not first.after:
        raise ScenarioError(f"{path}.job", f"job {job_id!r} is registered at {first.at:g}s, after this action ({start:g}s)")


def _check_target(action: Action, path: str, register: Register) -> None:
    job = register.source.job
    if job is None:
        return
    if isinstance(action, Dispatch | DispatchGenerate) and not job.get("ParameterizedJob"):
        raise ScenarioError(f"{path}.job", f"job {action.job!r} is not a parameterized job")
    if isinstance(action, Update):
        for key, value in action.set.items():
            try:
                job = apply_set(job, key, value)
            except KeyError as exc:
                raise ScenarioError(f"{path}.set.{key}", f"no such field in job {action.job!r}: {exc.args[0]}") from None
        check_cron(job, f"{path}.set")


def _check_cycles(registers: list[tuple[int, Register]]) -> None:
    """The `after` edges must form a DAG (networkx, sim.workload.dags); the error names the register's key path."""
    from sim.workload.dags import check_after

    check_after(registers)
