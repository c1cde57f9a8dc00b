"""Nomad's JSON job form (PascalCase) to and from the structs of sim.structs.job.

The mapping is generic: it is compiled once from the dataclass fields and their annotations,
with PascalCase names derived from snake_case plus a small acronym table (ID, CPU, MB, IP,
CIDR, MBits). Decoding follows Go's encoding/json as Nomad's HTTP layer uses it: exact key
match first, then case-insensitive; JSON null means "not given"; wrong types and ints out of
the Go type's range raise ValidationError naming the field path with Go's decoder message.
Every key the structs do not model goes into the struct's `extra` and is emitted again.

Fields that are pointers in Nomad's api package and whose default depends on being absent
(the update, restart, reschedule and migrate blocks, affinity and spread weights, ...)
decode to None when absent; canonicalize() fills them, so a canonical job holds no None
there. Encoding writes every modelled field (empty lists and maps as null, as Go does for
nil) followed by the extras. The same compiled field tables drive copy_job (a deep copy) and
jobs_spec_equal (Nomad's SpecChanged, inverted).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, TypeVar

from sim.errors import ValidationError
from sim.structs import job as J
from sim.structs.duration import parse_go_duration
from sim.structs.gojson import json_kind
from sim.structs.unmodelled import fits, unmodelled_type

_ACRONYMS = {"id": "ID", "cpu": "CPU", "mb": "MB", "ip": "IP", "cidr": "CIDR", "mbits": "MBits"}
_STRUCTS = (
    J.Constraint, J.Affinity, J.SpreadTarget, J.Spread, J.Port, J.NetworkResource, J.Resources,
    J.RestartPolicy, J.ReschedulePolicy, J.UpdateStrategy, J.MigrateStrategy, J.EphemeralDisk,
    J.ServiceCheck, J.Service, J.LogConfig, J.TaskLifecycle, J.DispatchPayloadConfig, J.Task,
    J.Scaling, J.TaskGroup, J.PeriodicConfig, J.ParameterizedJobConfig, J.Job,
)
_BY_NAME = {cls.__name__: cls for cls in _STRUCTS}
_ALL_POINTERS = ("UpdateStrategy", "MigrateStrategy", "RestartPolicy", "ReschedulePolicy")
# Fields that are pointers in Nomad's api package and default only when absent.
_POINTERS = {
    "Job": {"name", "type"},
    "EphemeralDisk": {"size_mb"},
    "LogConfig": {"max_files", "max_file_size_mb"},
    "Resources": {"cpu", "cores", "memory_mb"},
    "Affinity": {"weight"},
    "Spread": {"weight"},
    "PeriodicConfig": {"enabled", "spec_type", "prohibit_overlap"},
    "Scaling": {"min", "max", "enabled"},
}
_GO_INT_TYPES = {
    ("Affinity", "weight"): "int8",
    ("Spread", "weight"): "int8",
    ("SpreadTarget", "percent"): "uint8",
    ("Job", "version"): "uint64",
    ("Job", "create_index"): "uint64",
    ("Job", "modify_index"): "uint64",
    ("Job", "job_modify_index"): "uint64",
    ("Job", "submit_time"): "int64",
    ("Scaling", "min"): "int64",
    ("Scaling", "max"): "int64",
}
_INT_RANGES = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "time.Duration": (-(2**63), 2**63 - 1),
    "int8": (-128, 127),
    "uint8": (0, 255),
    "uint64": (0, 2**64 - 1),
}
_GO_STRUCT_NAMES = {"Scaling": "ScalingPolicy"}
_VALUE_TYPES = {"Port", "ServiceCheck"}  # []api.Port, not []*api.Port
_MAX_DEPTH = 256
_Where = tuple[str, str, str]  # (field path, owning Go struct, Go field path) of a value


class _Struct(Protocol):
    """A job struct of sim.structs.job: a dataclass keeping the keys it does not model in `extra`."""

    extra: dict[str, Any]


_StructT = TypeVar("_StructT", bound=_Struct)

STR, INT, BOOL, DUR, LIST_STR, MAP_STR, MAP_ANY, OBJ, LIST_OBJ = range(9)
_SCALARS = (STR, INT, BOOL, DUR)


def json_name(attr: str) -> str:
    """PascalCase JSON key of a snake_case field: `memory_max_mb` -> `MemoryMaxMB`."""
    return "".join(_ACRONYMS.get(p, p.capitalize()) for p in attr.split("_"))


@dataclasses.dataclass(slots=True)
class _Field:
    attr: str
    key: str
    kind: int
    sub: type | None
    nullable: bool
    gotype: str
    lo: int = 0
    hi: int = 0


@dataclasses.dataclass(slots=True)
class _Spec:
    cls: type
    goname: str
    fields: list[_Field]
    by_key: dict[str, _Field]
    by_fold: dict[str, _Field]
    nulls: tuple[str, ...]


def _parse_annotation(cls_name: str, attr: str, ann: str) -> tuple[int, type | None, bool, str]:
    """Kind, struct class, nullable and Go type name of one annotated field."""
    nullable = ann.endswith(" | None") or attr in _POINTERS.get(cls_name, ())
    nullable = nullable or cls_name in _ALL_POINTERS
    base = ann.removesuffix(" | None")
    if base.startswith("list["):
        inner = base[5:-1]
        if inner == "str":
            return LIST_STR, None, nullable, "[]string"
        star = "" if inner in _VALUE_TYPES else "*"
        return LIST_OBJ, _BY_NAME[inner], nullable, f"[]{star}api.{_go_name(inner)}"
    if base.startswith("dict["):
        if base == "dict[str, str]":
            return MAP_STR, None, nullable, "map[string]string"
        gotype = "api.JobVersionTag" if attr == "version_tag" else "map[string]interface {}"
        return MAP_ANY, None, nullable, gotype
    scalar = {"str": (STR, "string"), "bool": (BOOL, "bool"), "Duration": (DUR, "time.Duration")}
    if base in scalar:
        kind, gotype = scalar[base]
        return kind, None, nullable, gotype
    if base == "int":
        return INT, None, nullable, _GO_INT_TYPES.get((cls_name, attr), "int")
    return OBJ, _BY_NAME[base], nullable, f"api.{_go_name(base)}"


def _go_name(cls_name: str) -> str:
    return _GO_STRUCT_NAMES.get(cls_name, cls_name)


def _compile(cls: type) -> _Spec:
    fields = []
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        if not isinstance(f.type, str):  # sim.structs.job postpones its annotations
            raise TypeError(f"{cls.__name__}.{f.name}: annotation is not a string")
        kind, sub, nullable, gotype = _parse_annotation(cls.__name__, f.name, f.type)
        lo, hi = _INT_RANGES.get(gotype, (0, 0))
        fields.append(_Field(f.name, json_name(f.name), kind, sub, nullable, gotype, lo, hi))
    by_key = {f.key: f for f in fields}
    nulls = tuple(f.attr for f in fields if f.nullable and f.kind in _SCALARS)
    return _Spec(cls, _go_name(cls.__name__), fields, by_key,
                 {k.lower(): f for k, f in by_key.items()}, nulls)


_SPECS: dict[type, _Spec] = {cls: _compile(cls) for cls in _STRUCTS}


# --- decoding ------------------------------------------------------------------------------


class _Ctx:
    """Per-call decoding options (no module state)."""

    __slots__ = ("duration_strings",)

    def __init__(self, duration_strings: bool):
        self.duration_strings = duration_strings


def _type_error(value: Any, where: _Where, gotype: str, literal: bool = False) -> ValidationError:
    path, struct, gopath = where
    if struct:
        text = f"into Go struct field {struct}.{gopath} of type {gotype}"
    else:
        text = f"into Go value of type {gotype}"
    return ValidationError(path, f"json: cannot unmarshal {json_kind(value, literal)} {text}")


def _jcopy(value: Any, path: str = "", depth: int = 0) -> Any:
    """Copy raw JSON data (dicts and lists all the way down)."""
    if isinstance(value, dict):
        if depth > _MAX_DEPTH:
            raise ValidationError(path, "json: exceeded max depth")
        return {k: _jcopy(v, path, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if depth > _MAX_DEPTH:
            raise ValidationError(path, "json: exceeded max depth")
        return [_jcopy(v, path, depth + 1) for v in value]
    return value


def _decode_int(f: _Field, value: Any, where: _Where, ctx: _Ctx) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _type_error(value, where, f.gotype)
    if isinstance(value, str):
        if f.kind == DUR and ctx.duration_strings:
            try:
                return parse_go_duration(value)
            except ValueError as err:
                raise ValidationError(where[0], str(err)) from None
        raise _type_error(value, where, f.gotype)
    if isinstance(value, float) or not f.lo <= value <= f.hi:
        raise _type_error(value, where, f.gotype, literal=True)
    return value


def _decode_str_list(f: _Field, value: Any, where: _Where) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _type_error(value, where, f.gotype)
    out = []
    for item in value:
        if item is not None and not isinstance(item, str):
            raise _type_error(item, where, "string")
        out.append(item or "")
    return out


def _decode_str_map(f: _Field, value: Any, where: _Where) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _type_error(value, where, f.gotype)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or (v is not None and not isinstance(v, str)):
            raise _type_error(v if isinstance(k, str) else k, where, "string")
        out[k] = v or ""
    return out


def _decode_value(f: _Field, value: Any, where: _Where, ctx: _Ctx) -> Any:
    kind = f.kind
    if kind == STR:
        if not isinstance(value, str):
            raise _type_error(value, where, f.gotype)
        return value
    if kind == BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, where, f.gotype)
        return value
    if kind in (INT, DUR):
        return _decode_int(f, value, where, ctx)
    if kind == LIST_STR:
        return _decode_str_list(f, value, where)
    if kind == MAP_STR:
        return _decode_str_map(f, value, where)
    if kind == MAP_ANY:
        if not isinstance(value, dict):
            raise _type_error(value, where, f.gotype)
        return _jcopy(value, where[0])
    if kind == OBJ:
        assert f.sub is not None  # struct fields carry their class
        return _decode_struct(f.sub, value, where, ctx)
    return _decode_list(f, value, where, ctx)


def _decode_list(f: _Field, value: Any, where: _Where, ctx: _Ctx) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _type_error(value, where, f.gotype)
    path, owner, gopath = where
    cls = f.sub
    assert cls is not None  # lists of structs carry their class
    return [
        _decode_struct(cls, {} if item is None else item, (f"{path}[{i}]", owner, gopath), ctx)
        for i, item in enumerate(value)
    ]


def _decode_struct(cls: type[_StructT], data: Any, where: _Where, ctx: _Ctx) -> _StructT:
    """Decode one struct; `where` is (field path, owning Go struct, Go field path)."""
    spec = _SPECS[cls]
    if not isinstance(data, dict):
        raise _type_error(data, where, f"api.{spec.goname}")
    path, _, gopath = where
    obj = cls()
    for attr in spec.nulls:
        setattr(obj, attr, None)
    extra = obj.extra
    prefix = f"{path}." if path else ""
    for key, value in data.items():
        f = spec.by_key.get(key)
        if f is None and isinstance(key, str):
            f = spec.by_fold.get(key.lower())
        if f is None:
            typed = unmodelled_type(spec.goname, key) if isinstance(key, str) and value is not None else None
            if typed is not None and not fits(value, typed[1]):
                raise _type_error(value, (prefix + typed[0], spec.goname, f"{gopath}.{typed[0]}"), typed[1])
            extra[key] = _jcopy(value, prefix + str(key))
        elif value is not None:
            sub_where = (prefix + f.key, spec.goname, f"{gopath}.{f.key}")
            setattr(obj, f.attr, _decode_value(f, value, sub_where, ctx))
        elif f.nullable:
            setattr(obj, f.attr, None)
    return obj


def decode_job(data: Any, *, duration_strings: bool = False) -> J.Job:
    """Decode Nomad's JSON job form (bare, or wrapped as {"Job": {...}}) into a Job.

    Args:
        data: the parsed JSON (dicts, lists, scalars).
        duration_strings: also accept Go duration strings ("30s") where nanoseconds are due.

    Raises:
        ValidationError: a value of the wrong type, naming the field path (e.g.
            `TaskGroups[0].Count`) with the message Nomad's JSON decoder gives (HTTP 400).
    """
    ctx = _Ctx(duration_strings)
    if isinstance(data, dict) and "Job" in data and "TaskGroups" not in data and "ID" not in data:
        if not isinstance(data["Job"], dict):
            raise _type_error(data["Job"], ("Job", "JobRegisterRequest", "Job"), "api.Job")
        data = data["Job"]
    if not isinstance(data, dict):
        raise _type_error(data, ("", "", ""), "api.Job")
    return _decode_struct(J.Job, data, ("", "", "Job"), ctx)


# --- encoding, copying, comparing ----------------------------------------------------------


def _encode_value(kind: int, value: Any) -> Any:
    if value is None or kind in _SCALARS:
        return value
    if kind == OBJ:
        return encode_struct(value)
    if not value:
        return None
    if kind == LIST_OBJ:
        return [encode_struct(v) for v in value]
    if kind == LIST_STR:
        return list(value)
    return _jcopy(value) if kind == MAP_ANY else dict(value)


def encode_struct(obj: _Struct) -> dict[str, Any]:
    """Encode any job struct to its Nomad JSON form (typed fields, then extras)."""
    out = {f.key: _encode_value(f.kind, getattr(obj, f.attr)) for f in _SPECS[type(obj)].fields}
    for key, value in obj.extra.items():
        if key not in out:
            out[key] = _jcopy(value)
    return out


def encode_job(job: J.Job) -> dict[str, Any]:
    """Encode a Job to Nomad's JSON form: PascalCase keys, durations in nanoseconds."""
    return encode_struct(job)


def _copy_value(kind: int, value: Any) -> Any:
    if value is None or kind in _SCALARS:
        return value
    if kind == OBJ:
        return copy_struct(value)
    if kind == LIST_OBJ:
        return [copy_struct(v) for v in value]
    if kind == LIST_STR:
        return list(value)
    return _jcopy(value) if kind == MAP_ANY else dict(value)


def copy_struct(obj: _StructT) -> _StructT:
    """Deep copy of any job struct (faster than copy.deepcopy, same result)."""
    cls = type(obj)
    new = cls.__new__(cls)
    for f in _SPECS[cls].fields:
        setattr(new, f.attr, _copy_value(f.kind, getattr(obj, f.attr)))
    new.extra = _jcopy(obj.extra)
    return new


def copy_job(job: J.Job) -> J.Job:
    """Deep copy of a Job."""
    return copy_struct(job)


_SPEC_CHANGE_IGNORED = frozenset({
    "status", "status_description", "stable", "version", "create_index", "modify_index",
    "job_modify_index", "submit_time", "version_tag",
})
_SPEC_ATTRS = tuple(
    f.attr for f in _SPECS[J.Job].fields if f.attr not in _SPEC_CHANGE_IGNORED
) + ("extra",)


def jobs_spec_equal(a: J.Job, b: J.Job) -> bool:
    """Whether two jobs have the same specification (the inverse of Nomad's SpecChanged).

    Nomad: nomad/structs/structs.go, Job.SpecChanged (status, stability, version, indexes
    and submit time are not part of the spec; VersionTag is left out here too).
    """
    return all(getattr(a, attr) == getattr(b, attr) for attr in _SPEC_ATTRS)
