"""Job diffs in Nomad's JobDiff shape, and the plan annotations the scheduler adds to them.

Owns `job_diff` (Nomad: nomad/structs/diff.go, Job.Diff) over jobs in Nomad's JSON form
(PascalCase dicts, as the codec emits them) and `annotate_diff` (Nomad: scheduler/annotate.go).
Nomad flattens Go structs by reflection; here `_SCHEMA` lists, per Nomad struct, the primitive
non-pointer fields with their Go kind (so a dict missing a key diffs as Nomad's zero-valued field
would) and the string maps that flatten to `Name[key]`. Pointers, slices and nested structs are
never primitive fields; they become object diffs exactly where diff.go makes them. Values render
as Go's `%v`: ints "10", bools "true", durations in ns, and numbers inside free-form maps (task
Config, scaling Policy) as the float64s Nomad decodes them to ("8080", "1e+06").

Not diffed (as in Nomad): Spreads, task Lifecycle. Not implemented: Consul Connect blocks,
Multiregion and the job UI block (absent from simulated jobs).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cmp_to_key

_RANK = {"Edited": 0, "Added": 1, "Deleted": 2, "None": 3}
_JOB_FILTER = ("ID", "Status", "StatusDescription", "Version", "Stable", "CreateIndex",
               "ModifyIndex", "JobModifyIndex", "Update", "SubmitTime", "NomadTokenID", "VaultToken")
_UPDATE_KEYS = (("Ignore", "ignore"), ("Place", "create"), ("Migrate", "migrate"),
                ("Stop", "destroy"), ("Canary", "canary"), ("InPlaceUpdate", "in-place update"),
                ("DestructiveUpdate", "create/destroy update"))

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


def _render(v: object, kind: str) -> str:
    """A struct field of Go kind `kind` as flatmap renders it."""
    if kind == "b":
        return "true" if v else "false"
    if kind == "i":
        return str(int(v or 0))
    if kind == "p":
        return "nil" if v is None else ("true" if v is True else "false" if v is False else str(int(v)))
    return "" if v is None else str(v)


def _flat(obj: dict | None, kind: str, drop: tuple[str, ...] = ()) -> dict[str, str]:
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


def _flat_any(value: object, prefix: str = "", out: dict | None = None) -> dict[str, str]:
    """Nomad: helper/flatmap Flatten(m, nil, false) on a free-form map (lists as `[i]`)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, v in value.items():
            _flat_any(v, f"{prefix}[{key}]" if prefix else str(key), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flat_any(v, f"{prefix}[{i}]", out)
    elif prefix or value is not None:
        out[prefix] = _scalar(value)
    return out


def _prune(x: object) -> object:
    """x without empty members, so a missing key equals Go's zero value in comparisons."""
    if isinstance(x, dict):
        items = ((k, _prune(v)) for k, v in x.items())
        return {k: v for k, v in items if v not in (None, "", 0, False, [], {})}
    if isinstance(x, list):
        return [_prune(v) for v in x]
    return x


def _same(a: object, b: object) -> bool:
    """reflect.DeepEqual, tolerant of omitted zero-valued keys."""
    return a is b or _prune(a) == _prune(b)


# --- diff records and ordering (Nomad: diff.go FieldDiff/ObjectDiff Less) -----------------------


def _fd(kind: str, name: str, old: str, new: str) -> dict:
    return {"Type": kind, "Name": name, "Old": old, "New": new, "Annotations": None}


def _od(kind: str, name: str, fields: list, objects: list | None = None) -> dict:
    return {"Type": kind, "Name": name, "Fields": fields or None, "Objects": objects or None}


def _field(old: str, new: str, name: str, ctx: bool) -> dict | None:
    """Nomad: diff.go, fieldDiff."""
    if old == new:
        return _fd("None", name, old, new) if ctx else None
    if old == "":
        return _fd("Added", name, "", new)
    if new == "":
        return _fd("Deleted", name, old, "")
    return _fd("Edited", name, old, new)


def _fields(old: dict[str, str], new: dict[str, str], ctx: bool) -> list[dict]:
    """Nomad: diff.go, fieldDiffs (sorted by name, then old, then new)."""
    names = list(old) + [k for k in new if k not in old]
    diffs = [_field(old.get(k, ""), new.get(k, ""), k, ctx) for k in names]
    return sorted((d for d in diffs if d), key=lambda f: (f["Name"], f["Old"], f["New"]))


def _field_less(a: dict, b: dict) -> bool:
    return (a["Name"], a["Old"], a["New"]) < (b["Name"], b["Old"], b["New"])


def _obj_less(a: dict, b: dict) -> bool:
    """Nomad: diff.go, ObjectDiff.Less."""
    if a == b:
        return False
    if a["Name"] != b["Name"]:
        return a["Name"] < b["Name"]
    if a["Type"] != b["Type"]:
        return _RANK[a["Type"]] < _RANK[b["Type"]]
    fa, fb, oa, ob = (x or [] for x in (a["Fields"], b["Fields"], a["Objects"], b["Objects"]))
    if len(fa) != len(fb):
        return len(fa) < len(fb)
    if len(oa) != len(ob):
        return len(oa) < len(ob)
    return any(_field_less(x, y) for x, y in zip(fa, fb, strict=True)) or any(
        _obj_less(x, y) for x, y in zip(_sorted(oa), _sorted(ob), strict=True))


def _sorted(objects: list) -> list:
    """Nomad: sort.Sort(ObjectDiffs(...))."""
    cmp = lambda a, b: -1 if _obj_less(a, b) else (1 if _obj_less(b, a) else 0)  # noqa: E731
    return sorted((o for o in objects if o), key=cmp_to_key(cmp))


# --- generic object diffs ----------------------------------------------------------------------


def _typed(old: object, new: object) -> str:
    return "Added" if old is None else "Deleted" if new is None else "Edited"


def _object(old: dict | None, new: dict | None, kind: str, name: str, ctx: bool,
            drop: tuple[str, ...] = (), fields_ctx: bool | None = None) -> dict | None:
    """The common shape of diff.go's xxxDiff: nil when equal, typed by which side is nil."""
    if _same(old, new):
        return None
    ctx_f = ctx if fields_ctx is None else fields_ctx
    return _od(_typed(old, new), name, _fields(_flat(old, kind, drop), _flat(new, kind, drop), ctx_f))


def _primitive(old: dict | None, new: dict | None, kind: str, name: str, ctx: bool,
               drop: tuple[str, ...] = ()) -> dict | None:
    """Nomad: diff.go, primitiveObjectDiff (type follows the field diffs; nil when unchanged)."""
    return _primitive_flat(_flat(old, kind, drop), _flat(new, kind, drop), name, ctx)


def _primitive_flat(old: dict[str, str], new: dict[str, str], name: str, ctx: bool) -> dict | None:
    """primitiveObjectDiff on already flattened values."""
    fields = _fields(old, new, ctx)
    types = {f["Type"] for f in fields}
    if "Edited" in types or {"Added", "Deleted"} <= types:
        return _od("Edited", name, fields)
    for kind_ in ("Added", "Deleted"):
        if kind_ in types:
            return _od(kind_, name, fields)
    return None


def _primitive_set(old: list | None, new: list | None, kind: str, name: str, ctx: bool,
                   key=None) -> list[dict]:
    """Nomad: diff.go, primitiveObjectSetDiff (matched by DiffID, else by content)."""
    def keyed(items: list | None) -> dict:
        out = {}
        for o in items or []:
            out[(key(o) if key else "") or json.dumps(_prune(o), sort_keys=True)] = o
        return out
    olds, news = keyed(old), keyed(new)
    diffs = [_primitive(o, news.get(k), kind, name, ctx) for k, o in olds.items()]
    diffs += [_primitive(None, n, kind, name, ctx) for k, n in news.items() if k not in olds]
    return _sorted(diffs)


def _string_set(old: list | None, new: list | None, name: str, ctx: bool) -> dict | None:
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
    return _od(kind, name, sorted(fields, key=lambda f: (f["Name"], f["Old"], f["New"])))


def _by_key(old: list | None, new: list | None, key: str, fn, ctx: bool,
            order=_sorted) -> list[dict]:
    """Match two lists on a key field; diff matched, deleted then added; sorted."""
    olds = {o.get(key): o for o in old or []}
    news = {n.get(key): n for n in new or []}
    diffs = [fn(o, news.get(k), ctx) for k, o in olds.items()]
    diffs += [fn(None, n, ctx) for k, n in news.items() if k not in olds]
    return order([d for d in diffs if d])


def _by_position(old: list | None, new: list | None, fn, ctx: bool) -> list[dict]:
    """Pair two lists by index (Nomad's actionDiffs, volumeMountsDiffs)."""
    old, new = old or [], new or []
    pairs = [(old[i] if i < len(old) else None, new[i] if i < len(new) else None)
             for i in range(max(len(old), len(new)))]
    return _sorted([fn(o, n, ctx) for o, n in pairs])


def _with(diff: dict | None, objects: list) -> dict | None:
    """Attach child object diffs (dropping nils) to an object diff."""
    if diff is not None:
        diff["Objects"] = [o for o in objects if o] or None
    return diff


def _any_map(old: dict | None, new: dict | None, name: str, ctx: bool) -> dict | None:
    """Nomad: diff.go, configDiff / policyDiff / checkHeaderDiff (free-form maps)."""
    if _same(old, new):
        return None
    kind = "Added" if not old else "Deleted" if not new else "Edited"
    return _od(kind, name, _fields(_flat_any(old or {}), _flat_any(new or {}), ctx))


def _by_name(diffs: list[dict]) -> list[dict]:
    """TaskGroupDiffs and TaskDiffs sort by name alone."""
    return sorted(diffs, key=lambda d: d["Name"])


def _constraint_id(c: dict) -> str:
    """Nomad: structs.go, Constraint.DiffID (its String())."""
    return f"{c.get('LTarget', '')} {c.get('Operand', '')} {c.get('RTarget', '')}"


def _affinity_id(a: dict) -> str:
    """Nomad: structs.go, Affinity.DiffID (its String())."""
    return f"{_constraint_id(a)} {int(a.get('Weight') or 0)}"


def _placement(o: dict, n: dict, ctx: bool) -> list[dict]:
    """Constraint and Affinity object diffs, as job, group and task all make them."""
    return [*_primitive_set(o.get("Constraints"), n.get("Constraints"), "Constraint", "Constraint",
                            ctx, _constraint_id),
            *_primitive_set(o.get("Affinities"), n.get("Affinities"), "Affinity", "Affinity",
                            ctx, _affinity_id)]


# --- job, group, task ------------------------------------------------------------------------------


def job_diff(old: dict | None, new: dict | None, contextual: bool = False) -> dict:
    """Diff two jobs in Nomad's JSON form into Nomad's JobDiff shape.

    Nomad: nomad/structs/diff.go, Job.Diff. Raises ValueError for jobs with different IDs.
    """
    if old is None and new is None:
        return {"Type": "None", "ID": "", "Fields": None, "Objects": None, "TaskGroups": None}
    if old is not None and new is not None and old.get("ID") != new.get("ID"):
        raise ValueError(f'can not diff jobs with different IDs: "{old.get("ID")}" and "{new.get("ID")}"')
    o, n, ctx = old or {}, new or {}, contextual
    fields = _fields(_flat(old, "Job", _JOB_FILTER), _flat(new, "Job", _JOB_FILTER), False)
    dcs = _string_set(o.get("Datacenters"), n.get("Datacenters"), "Datacenters", ctx)
    objects = [dcs if dcs and dcs["Type"] != "None" else None, *_placement(o, n, ctx),
               _periodic(o.get("Periodic"), n.get("Periodic"), ctx),
               _parameterized(o.get("ParameterizedJob"), n.get("ParameterizedJob"), ctx)]
    objects = [x for x in objects if x]
    groups = _by_key(o.get("TaskGroups"), n.get("TaskGroups"), "Name", _group_diff, ctx, _by_name)
    kind = _typed(old, new) if old is None or new is None else "None"
    if kind == "None" and any(d["Type"] != "None" for d in fields + objects + groups):
        kind = "Edited"
    return {"Type": kind, "ID": (new or old).get("ID", ""), "Fields": fields or None,
            "Objects": objects or None, "TaskGroups": groups or None}


def _group_diff(old: dict | None, new: dict | None, ctx: bool) -> dict:
    """Nomad: nomad/structs/diff.go, TaskGroup.Diff."""
    kind = _typed(old, new) if old is None or new is None else ("None" if _same(old, new) else "Edited")
    of, nf = _flat(old, "TaskGroup", ("Name",)), _flat(new, "TaskGroup", ("Name",))
    if old is not None and new is not None:  # the one pointer field diff.go adds by hand
        for flat, group in ((of, old), (nf, new)):
            delay = group.get("ShutdownDelay")
            flat["ShutdownDelay"] = "" if delay is None else str(int(delay))
    o, n = old or {}, new or {}
    pairs = lambda key: (o.get(key), n.get(key))  # noqa: E731
    objects = [*_placement(o, n, ctx),
               _primitive(*pairs("RestartPolicy"), "RestartPolicy", "RestartPolicy", ctx),
               _primitive(*pairs("Migrate"), "Migrate", "Migrate", ctx),
               _primitive(*pairs("ReschedulePolicy"), "ReschedulePolicy", "ReschedulePolicy", ctx),
               _primitive(*pairs("EphemeralDisk"), "EphemeralDisk", "EphemeralDisk", ctx),
               _primitive(*pairs("Consul"), "Consul", "Consul", ctx),
               _primitive(*pairs("Update"), "Update", "Update", ctx, ("Stagger",)),
               _object(*pairs("Disconnect"), "Disconnect", "Disconnect", ctx),
               *_networks(*pairs("Networks"), ctx), _scaling(*pairs("Scaling"), ctx),
               *_services(*pairs("Services"), ctx), *_volumes(*pairs("Volumes"), ctx)]
    tasks = _by_key(o.get("Tasks"), n.get("Tasks"), "Name", _task_diff, ctx, _by_name)
    return {"Type": kind, "Name": (new or old).get("Name", ""), "Fields": _fields(of, nf, False) or None,
            "Objects": [x for x in objects if x] or None, "Tasks": tasks or None, "Updates": None}


def _task_diff(old: dict | None, new: dict | None, ctx: bool) -> dict:
    """Nomad: nomad/structs/diff.go, Task.Diff."""
    kind = _typed(old, new) if old is None or new is None else ("None" if _same(old, new) else "Edited")
    fields = _fields(_flat(old, "Task", ("Name", "Config")), _flat(new, "Task", ("Name", "Config")), False)
    o, n = old or {}, new or {}
    pairs = lambda key: (o.get(key), n.get(key))  # noqa: E731
    objects = [*_placement(o, n, ctx), _any_map(*pairs("Config"), "Config", ctx),
               _resources(*pairs("Resources"), ctx),
               _primitive(*pairs("LogConfig"), "LogConfig", "LogConfig", ctx),
               _primitive(*pairs("DispatchPayload"), "DispatchPayload", "DispatchPayload", ctx),
               *_primitive_set(*pairs("Artifacts"), "Artifact", "Artifact", ctx,
                               lambda a: a.get("RelativeDest", "")),
               *_services(*pairs("Services"), ctx), _object(*pairs("Vault"), "Vault", "Vault", ctx),
               *_by_key(*pairs("Secrets"), "Name", _secret, ctx),
               _primitive(*pairs("Consul"), "Consul", "Consul", ctx),
               *_templates(*pairs("Templates"), ctx), _identity(*pairs("Identity"), ctx),
               *_by_key(*pairs("Identities"), "Name", _identity, ctx),
               *_by_position(*pairs("Actions"), _action, ctx),
               *_by_position(*pairs("VolumeMounts"), _volume_mount, ctx),
               _schedule(*pairs("Schedule"), ctx)]
    return {"Type": kind, "Name": (new or old).get("Name", ""), "Fields": fields or None,
            "Objects": [x for x in objects if x] or None, "Annotations": None}


# --- blocks --------------------------------------------------------------------------------------


def _periodic(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, periodicDiff."""
    specs = _string_set((old or {}).get("Specs"), (new or {}).get("Specs"), "Specs", ctx)
    return _with(_object(old, new, "Periodic", "Periodic", ctx),
                 [specs if specs and specs["Type"] != "None" else None])


def _parameterized(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, parameterizedJobDiff."""
    o, n = old or {}, new or {}
    return _with(_object(old, new, "ParameterizedJob", "ParameterizedJob", ctx),
                 [_string_set(o.get("MetaOptional"), n.get("MetaOptional"), "MetaOptional", ctx),
                  _string_set(o.get("MetaRequired"), n.get("MetaRequired"), "MetaRequired", ctx)])


def _scaling(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, scalingDiff (fields never contextual) with its Policy map."""
    drop = ("CreateIndex", "ModifyIndex", "ID", "Type", "Target[Job]", "Target[Group]",
            "Target[Namespace]")
    diff = _object(old, new, "Scaling", "Scaling", ctx, drop, fields_ctx=False)
    return _with(diff, [_any_map((old or {}).get("Policy"), (new or {}).get("Policy"), "Policy", False)])


def _volumes(old: dict | None, new: dict | None, ctx: bool) -> list[dict]:
    """Nomad: diff.go, volumeDiffs (Go's map order is random; here sorted by volume name)."""
    o, n = old or {}, new or {}
    return [d for d in (_volume(o.get(k), n.get(k), ctx) for k in sorted(set(o) | set(n))) if d]


def _volume(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, volumeDiff and volumeCSIMountOptionsDiff."""
    om, nm = (old or {}).get("MountOptions"), (new or {}).get("MountOptions")
    flags = _string_set((om or {}).get("MountFlags"), (nm or {}).get("MountFlags"), "MountFlags", ctx)
    mount = _with(_object(om, nm, "MountOptions", "MountOptions", ctx), [flags])
    return _with(_object(old, new, "Volume", "Volume", ctx), [mount])


def _resources(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, Resources.Diff (with networks, devices and NUMA)."""
    o, n = old or {}, new or {}
    device = lambda a, b, c: _object(a, b, "Device", "Device", c)  # noqa: E731
    return _with(_object(old, new, "Resources", "Resources", ctx),
                 [*_networks(o.get("Networks"), n.get("Networks"), ctx),
                  *_by_key(o.get("Devices"), n.get("Devices"), "Name", device, ctx),
                  _object(o.get("NUMA"), n.get("NUMA"), "NUMA", "NUMA", ctx)])


def _networks(old: list | None, new: list | None, ctx: bool) -> list[dict]:
    """Nomad: diff.go, networkResourceDiffs (matched by content: never Edited)."""
    key = lambda x: json.dumps(_prune(x), sort_keys=True)  # noqa: E731
    olds, news = {key(x): x for x in old or []}, {key(x): x for x in new or []}
    diffs = [_network(x, None, ctx) for k, x in olds.items() if k not in news]
    return _sorted(diffs + [_network(None, x, ctx) for k, x in news.items() if k not in olds])


def _network(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, NetworkResource.Diff, portDiffs, DNSConfig.Diff, CNIConfig.Diff."""
    o, n = old or {}, new or {}
    diff = _object(old, new, "Network", "Network", ctx, ("Device", "CIDR", "IP", "MBits"))
    static = lambda a, b, c: _primitive(a, b, "Port", "Static Port", c)  # noqa: E731
    dynamic = lambda a, b, c: _primitive(a, b, "Port", "Dynamic Port", c, ("Value", "IgnoreCollision"))  # noqa: E731
    cni_old, cni_new = (o.get("CNI") or {}).get("Args") or {}, (n.get("CNI") or {}).get("Args") or {}
    return _with(diff, [*_by_key(o.get("ReservedPorts"), n.get("ReservedPorts"), "Label", static, ctx),
                        *_by_key(o.get("DynamicPorts"), n.get("DynamicPorts"), "Label", dynamic, ctx),
                        _dns(o.get("DNS"), n.get("DNS"), ctx),
                        _primitive_flat(cni_old, cni_new, "CNIConfig", ctx)])


def _dns(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, DNSConfig.Diff (lists joined with commas)."""
    if _same(old, new):
        return None
    flat = lambda c: {k: ",".join(c[k]) for k in ("Servers", "Searches", "Options") if (c or {}).get(k)}  # noqa: E731
    return _od(_typed(old, new), "DNS", _fields(flat(old), flat(new), ctx))


def _services(old: list | None, new: list | None, ctx: bool) -> list[dict]:
    """Nomad: diff.go, serviceDiffs (services matched by a name/port/position score)."""
    old, new = old or [], new or []
    if len(old) == 1 and len(new) == 1:
        return [d for d in [_service(old[0], new[0], ctx)] if d]
    matched = [-1] * len(new)
    diffs = []
    for i, svc in enumerate(old):
        j = _service_match(svc, i, new, matched)
        if j >= 0:
            matched[j] = i
        diffs.append(_service(svc, new[j] if j >= 0 else None, ctx))
    diffs += [_service(None, new[j], ctx) for j, m in enumerate(matched) if m == -1]
    return _sorted(diffs)


def _service_match(svc: dict, index: int, services: list[dict], matched: list[int]) -> int:
    """Nomad: diff.go, findServiceMatch (name 3, port label 2, same position 1; needs > 2)."""
    best, found = 0, -1
    for i, other in enumerate(services):
        if matched[i] >= 0:
            continue
        score = (i == index) + 2 * (svc.get("PortLabel", "") == other.get("PortLabel", "")) \
            + 3 * (svc.get("Name", "") == other.get("Name", ""))
        if score > 2 and score > best:
            best, found = score, i
    return found


def _service(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, serviceDiff (Consul Connect blocks are not diffed here)."""
    o, n = old or {}, new or {}
    check = lambda a, b, c: _with(  # noqa: E731
        _object(a, b, "Check", "Check", c),
        [_any_map((a or {}).get("Header"), (b or {}).get("Header"), "Header", c),
         _object((a or {}).get("CheckRestart"), (b or {}).get("CheckRestart"), "CheckRestart", "CheckRestart", c)])
    return _with(_object(old, new, "Service", "Service", ctx),
                 [_string_set(o.get("CanaryTags"), n.get("CanaryTags"), "CanaryTags", ctx),
                  _string_set(o.get("Tags"), n.get("Tags"), "Tags", ctx),
                  *_by_key(o.get("Checks"), n.get("Checks"), "Name", check, ctx),
                  _identity(o.get("Identity"), n.get("Identity"), ctx),
                  _weights(o.get("Weights"), n.get("Weights"), ctx)])


def _weights(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, weightsDiff (only positive weights are fields)."""
    if _same(old, new):
        return None
    flat = lambda w: {k: str(w[k]) for k in ("Passing", "Warning") if (w or {}).get(k, 0) > 0}  # noqa: E731
    return _od(_typed(old, new), "Weights", _fields(flat(old), flat(new), ctx))


def _identity(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, idDiff."""
    audience = _string_set((old or {}).get("Audience"), (new or {}).get("Audience"), "Audience", ctx)
    return _with(_object(old, new, "Identity", "Identity", ctx), [audience])


def _secret(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, secretsDiff (a full flatten: Config and Env entries as fields)."""
    if _same(old, new):
        return None
    flat = lambda s: _flat_any({k: s.get(k) or "" for k in ("Name", "Provider", "Path")}  # noqa: E731
                               | {"Config": s.get("Config") or {}, "Env": s.get("Env") or {}})
    return _od(_typed(old, new), "Secret", _fields(flat(old or {}), flat(new or {}), ctx))


def _templates(old: list | None, new: list | None, ctx: bool) -> list[dict]:
    """Nomad: diff.go, templateDiffs (matched on DestPath, the template's DiffID)."""
    old, new = old or [], new or []
    if len(old) == 1 and len(new) == 1:
        return [d for d in [_template(old[0], new[0], ctx)] if d]
    used = [False] * len(new)
    diffs = []
    for tmpl in old:
        j = next((i for i, x in enumerate(new)
                  if not used[i] and x.get("DestPath", "") == tmpl.get("DestPath", "")), -1)
        if j >= 0:
            used[j] = True
        diffs.append(_template(tmpl, new[j] if j >= 0 else None, ctx))
    diffs += [_template(None, x, ctx) for i, x in enumerate(new) if not used[i]]
    return _sorted(diffs)


def _template(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, templateDiff (Uid/Gid pointers added by hand; Wait named "Template")."""
    if _same(old, new):
        return None
    of, nf = _flat(old, "Template"), _flat(new, "Template")
    for flat, tmpl in ((of, old), (nf, new)):
        for key in ("Uid", "Gid"):
            if tmpl is not None and tmpl.get(key) is not None:
                flat[key] = str(tmpl[key])
    o, n = old or {}, new or {}
    script = _with(_object(o.get("ChangeScript"), n.get("ChangeScript"), "ChangeScript", "ChangeScript", ctx),
                   [_string_set((o.get("ChangeScript") or {}).get("Args"),
                                (n.get("ChangeScript") or {}).get("Args"), "Args", ctx)])
    return _with(_od(_typed(old, new), "Template", _fields(of, nf, ctx)),
                 [_object(o.get("Wait"), n.get("Wait"), "Wait", "Template", ctx), script])


def _action(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, actionDiff."""
    args = _string_set((old or {}).get("Args"), (new or {}).get("Args"), "Args", ctx)
    return _with(_object(old, new, "Action", "Action", ctx), [args])


def _volume_mount(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, volumeMountDiff."""
    return _object(old, new, "VolumeMount", "VolumeMount", ctx)


def _schedule(old: dict | None, new: dict | None, ctx: bool) -> dict | None:
    """Nomad: diff.go, scheduleDiff (the Cron block, as a primitive object)."""
    if _same(old, new):
        return None
    return _primitive((old or {}).get("Cron"), (new or {}).get("Cron"), "Schedule", "Schedule", ctx)


# --- plan annotations (Nomad: scheduler/annotate.go) ---------------------------------------------


def annotate_diff(diff: dict, desired_tg_updates: dict[str, dict] | None) -> None:
    """Add the scheduler's plan annotations to a job diff, in place.

    Nomad: scheduler/annotate.go, Annotate. `desired_tg_updates` maps a group name to Nomad's
    DesiredUpdates JSON (Ignore, Place, Migrate, Stop, Canary, InPlaceUpdate, DestructiveUpdate).
    """
    for group in diff.get("TaskGroups") or []:
        if desired_tg_updates is not None and group["Name"] in desired_tg_updates:
            counts = desired_tg_updates[group["Name"]] or {}
            updates = dict(group.get("Updates") or {})
            updates.update({label: int(counts[key]) for key, label in _UPDATE_KEYS if counts.get(key)})
            group["Updates"] = dict(sorted(updates.items()))
        _annotate_count(group)
        for task in group.get("Tasks") or []:
            _annotate_task(task, group)


def _annotate(diff: dict, note: str) -> None:
    diff["Annotations"] = [*(diff.get("Annotations") or []), note]


def _annotate_count(group: dict) -> None:
    """Nomad: annotate.go, annotateCountChange ("forces create" up, "forces destroy" down)."""
    count = next((f for f in group.get("Fields") or [] if f["Name"] == "Count"), None)
    if count is None:
        return
    old, new = int(count["Old"] or 0), int(count["New"] or 0)
    if old != new:
        _annotate(count, "forces create" if old < new else "forces destroy")


def _annotate_task(task: dict, group: dict) -> None:
    """Nomad: annotate.go, annotateTask."""
    if task["Type"] == "None":
        return
    if group["Type"] in ("Added", "Deleted") and task["Type"] in ("Added", "Deleted"):
        _annotate(task, "forces create" if task["Type"] == "Added" else "forces destroy")
        return
    destructive = any(f["Name"] != "KillTimeout" for f in task.get("Fields") or [])
    for obj in [] if destructive else task.get("Objects") or []:
        if obj["Name"] == "LogConfig":
            destructive = any(f["Name"] == "Disabled" for f in obj.get("Fields") or [])
        elif obj["Name"] not in ("Service", "Constraint", "Affinity", "Spread"):
            destructive = True
        if destructive:
            break
    _annotate(task, "forces create/destroy update" if destructive else "forces in-place update")
