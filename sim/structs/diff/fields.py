"""Flattening and field-level diffing for job diffs (Nomad: nomad/structs/diff.go, helper/flatmap).

The building blocks `sim.structs.diff.job` composes into Job.Diff. Nomad flattens Go structs by
reflection; here `_SCHEMA` lists, per Nomad struct, the primitive non-pointer fields with their Go
kind (so a dict missing a key diffs as Nomad's zero-valued field would) and the string maps that
flatten to `Name[key]`. Pointers, slices and nested structs are never primitive fields; they become
object diffs exactly where diff.go makes them. Values render as Go's `%v`: ints "10", bools "true",
durations in ns, and numbers inside free-form maps (task Config, scaling Policy) as the float64s
Nomad decodes them to ("8080", "1e+06").

Diff records are dicts in Nomad's JSON shape: FieldDiff {Type, Name, Old, New, Annotations} and
ObjectDiff {Type, Name, Fields, Objects}; a nil diff (no change) is None.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

JSONObject = dict[str, Any]
"""A struct in Nomad's JSON form (PascalCase keys, decoded JSON values), as the codec encodes it."""
Diff = dict[str, Any]
"""A diff record in Nomad's JSON shape: FieldDiff, ObjectDiff, TaskDiff, TaskGroupDiff or JobDiff."""
DiffFn = Callable[[JSONObject | None, JSONObject | None, bool], Diff | None]
"""An object differ: (old, new, contextual) -> an ObjectDiff or None when unchanged."""
Scalar = str | int | float | bool | None
"""A JSON scalar: a primitive struct field's value."""

_RANK = {"Edited": 0, "Added": 1, "Deleted": 2, "None": 3}

# Per Nomad struct: "Field:kind ..." (kind b=bool, i=int/duration, p=pointer scalar in a full
# flatten, default string) | string-map fields. Mirrors nomad/structs at the studied commit.
_RAW_SCHEMA = {
    "Job": ("Stop:b Region Namespace ID ParentID Name Type Priority:i AllAtOnce:b NodePool "
            "Dispatched:b DispatchIdempotencyToken ConsulNamespace VaultNamespace NomadTokenID "
            "Status StatusDescription Stable:b Version:i SubmitTime:i CreateIndex:i ModifyIndex:i "
            "JobModifyIndex:i", "Meta"),
    "TaskGroup": ("Name Count:i PreventRescheduleOnLost:b", "Meta"),
    "Task": ("Name Driver User KillTimeout:i Leader:b ShutdownDelay:i KillSignal Kind", "Env Meta"),
    "Constraint": ("LTarget RTarget Operand", ""),
    "Affinity": ("LTarget RTarget Operand Weight:i", ""),
    "RestartPolicy": ("Attempts:i Interval:i Delay:i Mode RenderTemplates:b", ""),
    "ReschedulePolicy": ("Attempts:i Interval:i Delay:i DelayFunction MaxDelay:i Unlimited:b", ""),
    "Migrate": ("MaxParallel:i HealthCheck MinHealthyTime:i HealthyDeadline:i", ""),
    "EphemeralDisk": ("Sticky:b SizeMB:i Migrate:b", ""),
    "Update": ("Stagger:i MaxParallel:i HealthCheck MinHealthyTime:i HealthyDeadline:i "
               "ProgressDeadline:i AutoRevert:b AutoPromote:b Canary:i", ""),
    "Consul": ("Namespace Cluster Partition", ""),
    "Disconnect": ("LostAfter:i StopOnClientAfter:p Replace:p Reconcile", ""),
    "LogConfig": ("MaxFiles:i MaxFileSizeMB:i Disabled:b", ""),
    "DispatchPayload": ("File", ""),
    "Artifact": ("GetterSource GetterMode GetterInsecure:b RelativeDest Chown:b",
                 "GetterOptions GetterHeaders"),
    "Resources": ("CPU:i Cores:i MemoryMB:i MemoryMaxMB:i DiskMB:i IOPS:i SecretsMB:i", ""),
    "Network": ("Mode Device CIDR IP Hostname MBits:i", ""),
    "Port": ("Label Value:i To:i HostNetwork IgnoreCollision:b", ""),
    "Device": ("Name Count:i", ""),
    "NUMA": ("Affinity", ""),
    "Service": ("Name TaskName PortLabel AddressMode Address EnableTagOverride:b Namespace "
                "OnUpdate Provider Cluster Kind", "Meta CanaryMeta TaggedAddresses"),
    "Check": ("Name Type Command Path Protocol PortLabel Expose:b AddressMode Interval:i "
              "Timeout:i InitialStatus Notes TLSServerName TLSSkipVerify:b Method GRPCService "
              "GRPCUseTLS:b TaskName SuccessBeforePassing:i FailuresBeforeCritical:i "
              "FailuresBeforeWarning:i Body OnUpdate", ""),
    "CheckRestart": ("Limit:i Grace:i IgnoreWarnings:b", ""),
    "Vault": ("Role Namespace Cluster Env:b DisableFile:b ChangeMode ChangeSignal "
              "AllowTokenExpiration:b", ""),
    "Template": ("SourcePath DestPath EmbeddedTmpl ChangeMode ChangeSignal Once:b Splay:i Perms "
                 "LeftDelim RightDelim Envvars:b VaultGrace:i ErrMissingKey:b", ""),
    "Wait": ("Min:p Max:p", ""),
    "ChangeScript": ("Command Timeout:i FailOnError:b RunOnFirstRender:b", ""),
    "Identity": ("Name ChangeMode ChangeSignal Env:b File:b Filepath ServiceName TTL:i", ""),
    "VolumeMount": ("Volume Destination ReadOnly:b PropagationMode SELinuxLabel", ""),
    "Volume": ("Name Type Source ReadOnly:b Sticky:b AccessMode AttachmentMode PerAlloc:b", ""),
    "MountOptions": ("FSType", ""),
    "Periodic": ("Enabled:b Spec SpecType ProhibitOverlap:b TimeZone", ""),
    "ParameterizedJob": ("Payload", ""),
    "Scaling": ("ID Type Min:i Max:i Enabled:b CreateIndex:i ModifyIndex:i", "Target"),
    "Schedule": ("Start End Timezone", ""),
    "Action": ("Name Command", ""),
}
_SCHEMA = {
    kind: (tuple((f.split(":") + ["s"])[:2] for f in prims.split()), tuple(maps.split()))
    for kind, (prims, maps) in _RAW_SCHEMA.items()
}


# --- rendering and flattening (Nomad: helper/flatmap) --------------------------------------------


def _go_float(x: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form outside [1e-4, 1e6)."""
    if math.isinf(x) or math.isnan(x):
        return "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    d = Decimal(repr(x)).normalize()
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)  # x is finite: no NaN or infinity exponent
    point = len(digits) + exp - 1
    if -4 <= point < 6:
        return format(d, "f")
    text = "".join(map(str, digits))
    mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mant}e{'-' if point < 0 else '+'}{abs(point):02d}"


def _scalar(v: object) -> str:
    """A value inside a free-form map, as Go prints the decoded JSON value."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _go_float(float(v))
    return str(v)


def _render(v: Scalar, kind: str) -> str:
    """A struct field of Go kind `kind` as flatmap renders it."""
    if kind == "b":
        return "true" if v else "false"
    if kind == "i":
        return str(int(v or 0))
    if kind == "p":
        return "nil" if v is None else ("true" if v is True else "false" if v is False else str(int(v)))
    return "" if v is None else str(v)


def flatten(obj: JSONObject | None, kind: str, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """Nomad: helper/flatmap Flatten(obj, drop, true) on a struct: primitives and string maps."""
    if obj is None:
        return {}
    prims, maps = _SCHEMA[kind]
    out = {name: _render(obj.get(name), k) for name, k in prims}
    for m in maps:
        for key, v in (obj.get(m) or {}).items():
            out[f"{m}[{key}]"] = "" if v is None else str(v)
    for name in drop:
        out.pop(name, None)
    return out


def flatten_any(value: object, prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    """Nomad: helper/flatmap Flatten(m, nil, false) on a free-form map (lists as `[i]`)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, v in value.items():
            flatten_any(v, f"{prefix}[{key}]" if prefix else str(key), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            flatten_any(v, f"{prefix}[{i}]", out)
    elif prefix or value is not None:
        out[prefix] = _scalar(value)
    return out


def prune(x: object) -> object:
    """x without empty members, so a missing key equals Go's zero value in comparisons."""
    if isinstance(x, dict):
        items = ((k, prune(v)) for k, v in x.items())
        return {k: v for k, v in items if v not in (None, "", 0, False, [], {})}
    if isinstance(x, list):
        return [prune(v) for v in x]
    return x


def content_key(x: object) -> str:
    """A key that matches two values exactly when they are `same` (set members by content)."""
    return json.dumps(prune(x), sort_keys=True)


def same(a: object, b: object) -> bool:
    """reflect.DeepEqual, tolerant of omitted zero-valued keys."""
    return a is b or prune(a) == prune(b)


# --- diff records and ordering (Nomad: diff.go FieldDiff/ObjectDiff Less) -----------------------


def _fd(kind: str, name: str, old: str, new: str) -> Diff:
    """A FieldDiff record."""
    return {"Type": kind, "Name": name, "Old": old, "New": new, "Annotations": None}


def object_record(kind: str, name: str, fields: list[Diff], objects: list[Diff] | None = None) -> Diff:
    """An ObjectDiff record (empty lists become None, as Go's nil slices encode)."""
    return {"Type": kind, "Name": name, "Fields": fields or None, "Objects": objects or None}


def _field(old: str, new: str, name: str, ctx: bool) -> Diff | None:
    """Nomad: diff.go, fieldDiff."""
    if old == new:
        return _fd("None", name, old, new) if ctx else None
    if old == "":
        return _fd("Added", name, "", new)
    if new == "":
        return _fd("Deleted", name, old, "")
    return _fd("Edited", name, old, new)


def field_diffs(old: dict[str, str], new: dict[str, str], ctx: bool) -> list[Diff]:
    """Nomad: diff.go, fieldDiffs (sorted by name, then old, then new)."""
    names = list(old) + [k for k in new if k not in old]
    diffs = [_field(old.get(k, ""), new.get(k, ""), k, ctx) for k in names]
    return sorted((d for d in diffs if d), key=_field_key)


def _field_key(f: Diff) -> tuple[str, str, str]:
    """Nomad: diff.go, FieldDiff.Less (by name, then old, then new)."""
    return f["Name"], f["Old"], f["New"]


def _obj_less(a: Diff, b: Diff) -> bool:
    """Nomad: diff.go, ObjectDiff.Less."""
    if a == b:
        return False
    name_a: str = a["Name"]
    name_b: str = b["Name"]
    if name_a != name_b:
        return name_a < name_b
    if a["Type"] != b["Type"]:
        return _RANK[a["Type"]] < _RANK[b["Type"]]
    fa, fb, oa, ob = (x or [] for x in (a["Fields"], b["Fields"], a["Objects"], b["Objects"]))
    if len(fa) != len(fb):
        return len(fa) < len(fb)
    if len(oa) != len(ob):
        return len(oa) < len(ob)
    return any(_field_key(x) < _field_key(y) for x, y in zip(fa, fb, strict=True)) or any(
        _obj_less(x, y) for x, y in zip(sort_objects(oa), sort_objects(ob), strict=True))


def sort_objects(objects: Iterable[Diff | None]) -> list[Diff]:
    """Nomad: sort.Sort(ObjectDiffs(...)) of the non-nil diffs."""
    def cmp(a: Diff, b: Diff) -> int:
        return -1 if _obj_less(a, b) else (1 if _obj_less(b, a) else 0)
    return sorted((o for o in objects if o), key=cmp_to_key(cmp))


# --- generic object diffs ----------------------------------------------------------------------


def change_type(old: object, new: object) -> str:
    """An object diff's type from which side is missing: Added, Deleted, else Edited."""
    return "Added" if old is None else "Deleted" if new is None else "Edited"


def object_diff(old: JSONObject | None, new: JSONObject | None, kind: str, name: str, ctx: bool,
                drop: tuple[str, ...] = (), fields_ctx: bool | None = None) -> Diff | None:
    """The common shape of diff.go's xxxDiff: nil when equal, typed by which side is nil.

    `kind` names the `_SCHEMA` struct, `name` the diff; `fields_ctx` overrides `ctx` for fields.
    """
    if same(old, new):
        return None
    ctx_f = ctx if fields_ctx is None else fields_ctx
    fields = field_diffs(flatten(old, kind, drop), flatten(new, kind, drop), ctx_f)
    return object_record(change_type(old, new), name, fields)


def primitive_diff(old: JSONObject | None, new: JSONObject | None, kind: str, name: str, ctx: bool,
                   drop: tuple[str, ...] = ()) -> Diff | None:
    """Nomad: diff.go, primitiveObjectDiff (type follows the field diffs; nil when unchanged)."""
    return primitive_flat_diff(flatten(old, kind, drop), flatten(new, kind, drop), name, ctx)


def primitive_flat_diff(old: dict[str, str], new: dict[str, str], name: str, ctx: bool) -> Diff | None:
    """primitiveObjectDiff on already flattened values."""
    fields = field_diffs(old, new, ctx)
    types = {f["Type"] for f in fields}
    if "Edited" in types or {"Added", "Deleted"} <= types:
        return object_record("Edited", name, fields)
    for kind_ in ("Added", "Deleted"):
        if kind_ in types:
            return object_record(kind_, name, fields)
    return None


def primitive_set_diff(old: list[JSONObject] | None, new: list[JSONObject] | None, kind: str, name: str,
                       ctx: bool, key: Callable[[JSONObject], str] | None = None) -> list[Diff]:
    """Nomad: diff.go, primitiveObjectSetDiff (matched by DiffID, else by content)."""
    def keyed(items: list[JSONObject] | None) -> dict[str, JSONObject]:
        return {(key(o) if key else "") or content_key(o): o for o in items or []}
    olds, news = keyed(old), keyed(new)
    diffs = [primitive_diff(o, news.get(k), kind, name, ctx) for k, o in olds.items()]
    diffs += [primitive_diff(None, n, kind, name, ctx) for k, n in news.items() if k not in olds]
    return sort_objects(diffs)


def string_set_diff(old: list[str] | None, new: list[str] | None, name: str, ctx: bool) -> Diff | None:
    """Nomad: diff.go, stringSetDiff."""
    olds, news = set(old or []), set(new or [])
    if olds == news and not ctx:
        return None
    fields = [_fd("Deleted", name, k, "") for k in olds - news]
    fields += [_fd("None", name, k, k) for k in olds & news] if ctx else []
    fields += [_fd("Added", name, "", k) for k in news - olds]
    added, removed = bool(news - olds), bool(olds - news)
    if not (added or removed or fields):
        return None
    kind = "Edited" if added and removed else "Added" if added else "Deleted" if removed else "None"
    return object_record(kind, name, sorted(fields, key=_field_key))


def diffs_by_key(old: list[JSONObject] | None, new: list[JSONObject] | None, key: str, fn: DiffFn, ctx: bool,
                 order: Callable[[list[Diff]], list[Diff]] = sort_objects) -> list[Diff]:
    """Match two lists on a key field; diff matched, deleted then added; sorted."""
    olds = {o.get(key): o for o in old or []}
    news = {n.get(key): n for n in new or []}
    diffs = [fn(o, news.get(k), ctx) for k, o in olds.items()]
    diffs += [fn(None, n, ctx) for k, n in news.items() if k not in olds]
    return order([d for d in diffs if d])


def diffs_by_position(old: list[JSONObject] | None, new: list[JSONObject] | None, fn: DiffFn,
                      ctx: bool) -> list[Diff]:
    """Pair two lists by index (Nomad's actionDiffs, volumeMountsDiffs)."""
    old, new = old or [], new or []
    pairs = [(old[i] if i < len(old) else None, new[i] if i < len(new) else None)
             for i in range(max(len(old), len(new)))]
    return sort_objects([fn(o, n, ctx) for o, n in pairs])


def with_objects(diff: Diff | None, objects: list[Diff | None]) -> Diff | None:
    """Attach child object diffs (dropping nils) to an object diff."""
    if diff is not None:
        diff["Objects"] = [o for o in objects if o] or None
    return diff


def map_diff(old: JSONObject | None, new: JSONObject | None, name: str, ctx: bool) -> Diff | None:
    """Nomad: diff.go, configDiff / policyDiff / checkHeaderDiff (free-form maps)."""
    if same(old, new):
        return None
    kind = "Added" if not old else "Deleted" if not new else "Edited"
    return object_record(kind, name, field_diffs(flatten_any(old or {}), flatten_any(new or {}), ctx))


def sort_by_name(diffs: list[Diff]) -> list[Diff]:
    """TaskGroupDiffs and TaskDiffs sort by name alone."""
    return sorted(diffs, key=lambda d: d["Name"])
