"""Fuzzing the codec, canonicalize and validate: bad input raises ValidationError, nothing else.

Three generators: arbitrary JSON, jobs shaped by the struct annotations (right types with
hostile values, sometimes the wrong type), and reference jobs with random mutations (wrong
types, deleted and extra keys, huge numbers, deep nesting, unicode).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ValidationError
from sim.structs import job as J
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job, encode_job, json_name
from sim.structs.validate.job import job_warnings, validate_job

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "jobs"
REFERENCE_JOBS = [json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*.json"))]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

INTERESTING_TEXT = [
    "", " ", "a b", "\x00", "service", "batch", "system", "sysbatch", "_core", "checks", "task_states",
    "manual", "fail", "delay", "constant", "exponential", "fibonacci", "prestart", "poststop",
    "=", "!=", "<", ">=", "regexp", "version", "semver", "set_contains", "distinct_hosts",
    "distinct_property", "is_set", "is_not_set", "${attr.kernel.name}", "${meta.rack}", "${node.class}",
    "$attr", "${bad", "(", "[a-", "a**", "(?=x)", "\\", "\\1", "[[:alpha:]]", "x{2,1}", ">= 1.0, < 2",
    "~> 1.2", "1.x", "= 1.0-beta+meta", "* * * * *", "@daily", "61 * * * *", "cron", "UTC", "Mars/Base",
    "/etc/passwd", "../../x", "optional", "required", "forbidden", "consul", "nomad", "host", "bridge",
    "default", "0", "-1", "18446744073709551616", "ünïcødé", "☃",
]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
texts = st.one_of(st.sampled_from(INTERESTING_TEXT), st.text(max_size=12))
ints = st.one_of(
    st.integers(min_value=-3, max_value=120), st.sampled_from([0, 1, 10, 65535, 65536, 2**31, 2**63 - 1]),
    st.integers(min_value=-(2**64), max_value=2**64),
)
durations = st.one_of(st.sampled_from([0, -1, 10**9, 5 * 10**9, 60 * 10**9, 3600 * 10**9]), ints)
STRUCTS = {cls.__name__: cls for cls in (
    J.Constraint, J.Affinity, J.SpreadTarget, J.Spread, J.Port, J.NetworkResource, J.Resources,
    J.RestartPolicy, J.ReschedulePolicy, J.UpdateStrategy, J.MigrateStrategy, J.EphemeralDisk,
    J.ServiceCheck, J.Service, J.LogConfig, J.TaskLifecycle, J.DispatchPayloadConfig, J.Task,
    J.Scaling, J.TaskGroup, J.PeriodicConfig, J.ParameterizedJobConfig, J.Job)}


def _value_for(annotation: str, depth: int) -> st.SearchStrategy:
    """A strategy for one annotated field, of the right type (wrong types: see the mutations)."""
    base = annotation.removesuffix(" | None")
    if base.startswith("list["):
        inner = base[5:-1]
        item = texts if inner == "str" else _struct(STRUCTS[inner], depth + 1)
        right = st.lists(item, max_size=2 if depth < 3 else 1)
    elif base.startswith("dict["):
        right = st.dictionaries(texts, texts if base == "dict[str, str]" else json_values, max_size=3)
    elif base in ("str",):
        right = texts
    elif base == "bool":
        right = st.booleans()
    elif base == "int":
        right = ints
    elif base == "Duration":
        right = durations
    else:
        right = _struct(STRUCTS[base], depth + 1)
    return right


def _struct(cls: type, depth: int) -> st.SearchStrategy:
    fields = [f for f in dataclasses.fields(cls) if f.name != "extra"]
    if depth > 4:
        return st.just({})
    entries = {json_name(f.name): _value_for(f.type, depth) for f in fields}
    return st.fixed_dictionaries({}, optional=entries)


typed_jobs = _struct(J.Job, 0)


def run_pipeline(data) -> None:
    """decode + canonicalize + validate (+ warnings, encode): success or ValidationError only."""
    try:
        job = decode_job(data)
        canonicalize(job)
        encode_job(job)
        validate_job(job)
        job_warnings(job)
    except ValidationError as err:
        assert isinstance(err.message, str) and err.errors
        assert err.field == err.errors[0][0]


@SETTINGS
@given(json_values)
def test_arbitrary_json_never_crashes(data):
    """Any JSON value is either a job or a ValidationError."""
    run_pipeline(data)


@SETTINGS
@given(typed_jobs)
def test_typed_jobs_with_hostile_values_never_crash(data):
    """Well-typed jobs with hostile values (negative, huge, odd strings) never crash."""
    run_pipeline(data)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _deep(depth: int):
    value = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


mutations = st.tuples(
    st.sampled_from(["replace", "delete", "extra", "huge", "deep", "null"]),
    st.integers(min_value=0, max_value=10**6),
    json_values,
    st.text(max_size=6),
)


@settings(SETTINGS, max_examples=200)
@given(st.sampled_from(range(len(REFERENCE_JOBS))), st.lists(mutations, min_size=1, max_size=4))
def test_mutated_reference_jobs_never_crash(index, ops):
    """Reference jobs with random mutations decode, canonicalize and validate or raise cleanly."""
    data = copy.deepcopy(REFERENCE_JOBS[index])
    for kind, pick, value, key in ops:
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = paths[pick % len(paths)]
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if kind == "delete" and isinstance(parent, dict):
            del parent[last]
        elif kind == "extra" and isinstance(parent, dict):
            parent[key + "\u2603"] = value
        else:
            parent[last] = {"replace": value, "huge": 2**80, "deep": _deep(300), "null": None}.get(kind, value)
    run_pipeline(data)


def test_deep_nesting_is_a_validation_error():
    """Absurdly deep unknown data is rejected cleanly instead of overflowing the stack."""
    data = {"ID": "x", "Junk": _deep(5000)}
    try:
        decode_job(data)
    except ValidationError as err:
        assert err.message == "json: exceeded max depth"
    else:
        raise AssertionError("deep nesting accepted")
