"""Job diffs in Nomad's JobDiff shape.

Owns `job_diff` (Nomad: nomad/structs/diff.go, Job.Diff) over jobs in Nomad's JSON form
(PascalCase dicts, as the codec emits them); `sim.structs.diff.annotate` adds the scheduler's
plan annotations to them.
The flattening, field diffs and generic object diffs they are built from live in
`sim.structs.diff.fields`; this module says which blocks diff how, as diff.go does.

Not diffed (as in Nomad): Spreads, task Lifecycle. Not implemented: Consul Connect blocks,
Multiregion and the job UI block (absent from simulated jobs).
"""

from __future__ import annotations

from typing import Any

from sim.structs.diff.fields import (
    Diff,
    JSONObject,
    change_type,
    content_key,
    diffs_by_key,
    diffs_by_position,
    field_diffs,
    flatten,
    flatten_any,
    map_diff,
    object_diff,
    object_record,
    primitive_diff,
    primitive_flat_diff,
    primitive_set_diff,
    same,
    sort_by_name,
    sort_objects,
    string_set_diff,
    with_objects,
)

_JOB_FILTER = ("ID", "Status", "StatusDescription", "Version", "Stable", "CreateIndex",
               "ModifyIndex", "JobModifyIndex", "Update", "SubmitTime", "NomadTokenID", "VaultToken")


# --- placement -------------------------------------------------------------------------------------


def _constraint_id(c: JSONObject) -> str:
    """Nomad: structs.go, Constraint.DiffID (its String())."""
    return f"{c.get('LTarget', '')} {c.get('Operand', '')} {c.get('RTarget', '')}"


def _affinity_id(a: JSONObject) -> str:
    """Nomad: structs.go, Affinity.DiffID (its String())."""
    return f"{_constraint_id(a)} {int(a.get('Weight') or 0)}"


def _placement(o: JSONObject, n: JSONObject, ctx: bool) -> list[Diff]:
    """Constraint and Affinity object diffs, as job, group and task all make them."""
    return [*primitive_set_diff(o.get("Constraints"), n.get("Constraints"), "Constraint",
                                "Constraint", ctx, _constraint_id),
            *primitive_set_diff(o.get("Affinities"), n.get("Affinities"), "Affinity", "Affinity",
                                ctx, _affinity_id)]


# --- job, group, task ------------------------------------------------------------------------------


def job_diff(old: JSONObject | None, new: JSONObject | None, contextual: bool = False) -> Diff:
    """Diff two jobs in Nomad's JSON form into Nomad's JobDiff shape.

    Nomad: nomad/structs/diff.go, Job.Diff. Raises ValueError for jobs with different IDs.
    """
    if old is None and new is None:
        return {"Type": "None", "ID": "", "Fields": None, "Objects": None, "TaskGroups": None}
    if old is not None and new is not None and old.get("ID") != new.get("ID"):
        raise ValueError(f'can not diff jobs with different IDs: "{old.get("ID")}" and "{new.get("ID")}"')
    o, n, ctx = old or {}, new or {}, contextual
    fields = field_diffs(flatten(old, "Job", _JOB_FILTER), flatten(new, "Job", _JOB_FILTER), False)
    dcs = string_set_diff(o.get("Datacenters"), n.get("Datacenters"), "Datacenters", ctx)
    candidates = [dcs if dcs and dcs["Type"] != "None" else None, *_placement(o, n, ctx),
                  _periodic(o.get("Periodic"), n.get("Periodic"), ctx),
                  _parameterized(o.get("ParameterizedJob"), n.get("ParameterizedJob"), ctx)]
    objects = [x for x in candidates if x]
    groups = diffs_by_key(o.get("TaskGroups"), n.get("TaskGroups"), "Name", _group_diff, ctx, sort_by_name)
    kind = change_type(old, new) if old is None or new is None else "None"
    if kind == "None" and any(d["Type"] != "None" for d in fields + objects + groups):
        kind = "Edited"
    return {"Type": kind, "ID": (new or old or {}).get("ID", ""), "Fields": fields or None,
            "Objects": objects or None, "TaskGroups": groups or None}


def _member_type(old: JSONObject | None, new: JSONObject | None) -> str:
    """A group or task diff's type: Added/Deleted by the missing side, else None or Edited."""
    if old is None or new is None:
        return change_type(old, new)
    return "None" if same(old, new) else "Edited"


def _group_diff(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff:
    """Nomad: nomad/structs/diff.go, TaskGroup.Diff."""
    kind = _member_type(old, new)
    of, nf = flatten(old, "TaskGroup", ("Name",)), flatten(new, "TaskGroup", ("Name",))
    if old is not None and new is not None:  # the one pointer field diff.go adds by hand
        for flat, group in ((of, old), (nf, new)):
            delay = group.get("ShutdownDelay")
            flat["ShutdownDelay"] = "" if delay is None else str(int(delay))
    o, n = old or {}, new or {}

    def pairs(key: str) -> tuple[Any, Any]:  # a member's old and new value
        return o.get(key), n.get(key)

    objects = [*_placement(o, n, ctx),
               primitive_diff(*pairs("RestartPolicy"), "RestartPolicy", "RestartPolicy", ctx),
               primitive_diff(*pairs("Migrate"), "Migrate", "Migrate", ctx),
               primitive_diff(*pairs("ReschedulePolicy"), "ReschedulePolicy", "ReschedulePolicy", ctx),
               primitive_diff(*pairs("EphemeralDisk"), "EphemeralDisk", "EphemeralDisk", ctx),
               primitive_diff(*pairs("Consul"), "Consul", "Consul", ctx),
               primitive_diff(*pairs("Update"), "Update", "Update", ctx, ("Stagger",)),
               object_diff(*pairs("Disconnect"), "Disconnect", "Disconnect", ctx),
               *_networks(*pairs("Networks"), ctx), _scaling(*pairs("Scaling"), ctx),
               *_services(*pairs("Services"), ctx), *_volumes(*pairs("Volumes"), ctx)]
    tasks = diffs_by_key(o.get("Tasks"), n.get("Tasks"), "Name", _task_diff, ctx, sort_by_name)
    return {"Type": kind, "Name": (new or old or {}).get("Name", ""), "Fields": field_diffs(of, nf, False) or None,
            "Objects": [x for x in objects if x] or None, "Tasks": tasks or None, "Updates": None}


def _task_diff(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff:
    """Nomad: nomad/structs/diff.go, Task.Diff."""
    kind = _member_type(old, new)
    fields = field_diffs(flatten(old, "Task", ("Name", "Config")), flatten(new, "Task", ("Name", "Config")), False)
    o, n = old or {}, new or {}

    def pairs(key: str) -> tuple[Any, Any]:  # a member's old and new value
        return o.get(key), n.get(key)

    objects = [*_placement(o, n, ctx), map_diff(*pairs("Config"), "Config", ctx),
               _resources(*pairs("Resources"), ctx),
               primitive_diff(*pairs("LogConfig"), "LogConfig", "LogConfig", ctx),
               primitive_diff(*pairs("DispatchPayload"), "DispatchPayload", "DispatchPayload", ctx),
               *primitive_set_diff(*pairs("Artifacts"), "Artifact", "Artifact", ctx,
                               lambda a: a.get("RelativeDest", "")),
               *_services(*pairs("Services"), ctx), object_diff(*pairs("Vault"), "Vault", "Vault", ctx),
               *diffs_by_key(*pairs("Secrets"), "Name", _secret, ctx),
               primitive_diff(*pairs("Consul"), "Consul", "Consul", ctx),
               *_templates(*pairs("Templates"), ctx), _identity(*pairs("Identity"), ctx),
               *diffs_by_key(*pairs("Identities"), "Name", _identity, ctx),
               *diffs_by_position(*pairs("Actions"), _action, ctx),
               *diffs_by_position(*pairs("VolumeMounts"), _volume_mount, ctx),
               _schedule(*pairs("Schedule"), ctx)]
    return {"Type": kind, "Name": (new or old or {}).get("Name", ""), "Fields": fields or None,
            "Objects": [x for x in objects if x] or None, "Annotations": None}


# --- blocks --------------------------------------------------------------------------------------


def _periodic(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, periodicDiff."""
    specs = string_set_diff((old or {}).get("Specs"), (new or {}).get("Specs"), "Specs", ctx)
    return with_objects(object_diff(old, new, "Periodic", "Periodic", ctx),
                 [specs if specs and specs["Type"] != "None" else None])


def _parameterized(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, parameterizedJobDiff."""
    o, n = old or {}, new or {}
    return with_objects(object_diff(old, new, "ParameterizedJob", "ParameterizedJob", ctx),
                 [string_set_diff(o.get("MetaOptional"), n.get("MetaOptional"), "MetaOptional", ctx),
                  string_set_diff(o.get("MetaRequired"), n.get("MetaRequired"), "MetaRequired", ctx)])


def _scaling(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, scalingDiff (fields never contextual) with its Policy map."""
    drop = ("CreateIndex", "ModifyIndex", "ID", "Type", "Target[Job]", "Target[Group]",
            "Target[Namespace]")
    diff = object_diff(old, new, "Scaling", "Scaling", ctx, drop, fields_ctx=False)
    return with_objects(diff, [map_diff((old or {}).get("Policy"), (new or {}).get("Policy"), "Policy", False)])


def _volumes(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> list[Diff]:
    """Nomad: diff.go, volumeDiffs (Go's map order is random; here sorted by volume name)."""
    o, n = old or {}, new or {}
    return [d for d in (_volume(o.get(k), n.get(k), ctx) for k in sorted(set(o) | set(n))) if d]


def _volume(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, volumeDiff and volumeCSIMountOptionsDiff."""
    om, nm = (old or {}).get("MountOptions"), (new or {}).get("MountOptions")
    flags = string_set_diff((om or {}).get("MountFlags"), (nm or {}).get("MountFlags"), "MountFlags", ctx)
    mount = with_objects(object_diff(om, nm, "MountOptions", "MountOptions", ctx), [flags])
    return with_objects(object_diff(old, new, "Volume", "Volume", ctx), [mount])


def _resources(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, Resources.Diff (with networks, devices and NUMA)."""
    o, n = old or {}, new or {}
    device = lambda a, b, c: object_diff(a, b, "Device", "Device", c)  # noqa: E731
    return with_objects(object_diff(old, new, "Resources", "Resources", ctx),
                 [*_networks(o.get("Networks"), n.get("Networks"), ctx),
                  *diffs_by_key(o.get("Devices"), n.get("Devices"), "Name", device, ctx),
                  object_diff(o.get("NUMA"), n.get("NUMA"), "NUMA", "NUMA", ctx)])


def _networks(old: list[JSONObject] | None, new: list[JSONObject] | None, ctx: bool) -> list[Diff]:
    """Nomad: diff.go, networkResourceDiffs (matched by content: never Edited)."""
    olds, news = {content_key(x): x for x in old or []}, {content_key(x): x for x in new or []}
    diffs = [_network(x, None, ctx) for k, x in olds.items() if k not in news]
    return sort_objects(diffs + [_network(None, x, ctx) for k, x in news.items() if k not in olds])


def _network(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, NetworkResource.Diff, portDiffs, DNSConfig.Diff, CNIConfig.Diff."""
    o, n = old or {}, new or {}
    diff = object_diff(old, new, "Network", "Network", ctx, ("Device", "CIDR", "IP", "MBits"))
    static = lambda a, b, c: primitive_diff(a, b, "Port", "Static Port", c)  # noqa: E731
    dynamic = lambda a, b, c: primitive_diff(a, b, "Port", "Dynamic Port", c, ("Value", "IgnoreCollision"))  # noqa: E731
    cni_old, cni_new = (o.get("CNI") or {}).get("Args") or {}, (n.get("CNI") or {}).get("Args") or {}
    return with_objects(diff, [*diffs_by_key(o.get("ReservedPorts"), n.get("ReservedPorts"), "Label", static, ctx),
                        *diffs_by_key(o.get("DynamicPorts"), n.get("DynamicPorts"), "Label", dynamic, ctx),
                        _dns(o.get("DNS"), n.get("DNS"), ctx),
                        primitive_flat_diff(cni_old, cni_new, "CNIConfig", ctx)])


def _dns(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, DNSConfig.Diff (lists joined with commas)."""
    if same(old, new):
        return None

    def flat(dns: JSONObject | None) -> dict[str, str]:
        config = dns or {}
        return {k: ",".join(config[k]) for k in ("Servers", "Searches", "Options") if config.get(k)}

    return object_record(change_type(old, new), "DNS", field_diffs(flat(old), flat(new), ctx))


def _services(old: list[JSONObject] | None, new: list[JSONObject] | None, ctx: bool) -> list[Diff]:
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
    return sort_objects(diffs)


def _service_match(svc: JSONObject, index: int, services: list[JSONObject], matched: list[int]) -> int:
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


def _service(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, serviceDiff (Consul Connect blocks are not diffed here)."""
    o, n = old or {}, new or {}
    check = lambda a, b, c: with_objects(  # noqa: E731
        object_diff(a, b, "Check", "Check", c),
        [map_diff((a or {}).get("Header"), (b or {}).get("Header"), "Header", c),
         object_diff((a or {}).get("CheckRestart"), (b or {}).get("CheckRestart"), "CheckRestart", "CheckRestart", c)])
    return with_objects(object_diff(old, new, "Service", "Service", ctx),
                 [string_set_diff(o.get("CanaryTags"), n.get("CanaryTags"), "CanaryTags", ctx),
                  string_set_diff(o.get("Tags"), n.get("Tags"), "Tags", ctx),
                  *diffs_by_key(o.get("Checks"), n.get("Checks"), "Name", check, ctx),
                  _identity(o.get("Identity"), n.get("Identity"), ctx),
                  _weights(o.get("Weights"), n.get("Weights"), ctx)])


def _weights(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, weightsDiff (only positive weights are fields)."""
    if same(old, new):
        return None

    def flat(weights: JSONObject | None) -> dict[str, str]:
        w = weights or {}
        return {k: str(w[k]) for k in ("Passing", "Warning") if w.get(k, 0) > 0}

    return object_record(change_type(old, new), "Weights", field_diffs(flat(old), flat(new), ctx))


def _identity(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, idDiff."""
    audience = string_set_diff((old or {}).get("Audience"), (new or {}).get("Audience"), "Audience", ctx)
    return with_objects(object_diff(old, new, "Identity", "Identity", ctx), [audience])


def _secret(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, secretsDiff (a full flatten: Config and Env entries as fields)."""
    if same(old, new):
        return None

    def flat(s: JSONObject) -> dict[str, str]:
        return flatten_any({k: s.get(k) or "" for k in ("Name", "Provider", "Path")}
                           | {"Config": s.get("Config") or {}, "Env": s.get("Env") or {}})

    return object_record(change_type(old, new), "Secret", field_diffs(flat(old or {}), flat(new or {}), ctx))


def _templates(old: list[JSONObject] | None, new: list[JSONObject] | None, ctx: bool) -> list[Diff]:
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
    return sort_objects(diffs)


def _template(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, templateDiff (Uid/Gid pointers added by hand; Wait named "Template")."""
    if same(old, new):
        return None
    of, nf = flatten(old, "Template"), flatten(new, "Template")
    for flat, tmpl in ((of, old), (nf, new)):
        for key in ("Uid", "Gid"):
            if tmpl is not None and tmpl.get(key) is not None:
                flat[key] = str(tmpl[key])
    o, n = old or {}, new or {}
    script = with_objects(object_diff(o.get("ChangeScript"), n.get("ChangeScript"), "ChangeScript", "ChangeScript", ctx),
                   [string_set_diff((o.get("ChangeScript") or {}).get("Args"),
                                (n.get("ChangeScript") or {}).get("Args"), "Args", ctx)])
    return with_objects(object_record(change_type(old, new), "Template", field_diffs(of, nf, ctx)),
                 [object_diff(o.get("Wait"), n.get("Wait"), "Wait", "Template", ctx), script])


def _action(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, actionDiff."""
    args = string_set_diff((old or {}).get("Args"), (new or {}).get("Args"), "Args", ctx)
    return with_objects(object_diff(old, new, "Action", "Action", ctx), [args])


def _volume_mount(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, volumeMountDiff."""
    return object_diff(old, new, "VolumeMount", "VolumeMount", ctx)


def _schedule(old: JSONObject | None, new: JSONObject | None, ctx: bool) -> Diff | None:
    """Nomad: diff.go, scheduleDiff (the Cron block, as a primitive object)."""
    if same(old, new):
        return None
    return primitive_diff((old or {}).get("Cron"), (new or {}).get("Cron"), "Schedule", "Schedule", ctx)
