"""The plan annotations the scheduler adds to a job diff (Nomad: scheduler/annotate.go)."""

from __future__ import annotations

from sim.structs.diff.fields import Diff, JSONObject

_UPDATE_KEYS = (("Ignore", "ignore"), ("Place", "create"), ("Migrate", "migrate"),
                ("Stop", "destroy"), ("Canary", "canary"), ("InPlaceUpdate", "in-place update"),
                ("DestructiveUpdate", "create/destroy update"))


def annotate_diff(diff: Diff, desired_tg_updates: dict[str, JSONObject] | None) -> None:
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


def _annotate(diff: Diff, note: str) -> None:
    diff["Annotations"] = [*(diff.get("Annotations") or []), note]


def _annotate_count(group: Diff) -> None:
    """Nomad: annotate.go, annotateCountChange ("forces create" up, "forces destroy" down)."""
    count = next((f for f in group.get("Fields") or [] if f["Name"] == "Count"), None)
    if count is None:
        return
    old, new = int(count["Old"] or 0), int(count["New"] or 0)
    if old != new:
        _annotate(count, "forces create" if old < new else "forces destroy")


def _annotate_task(task: Diff, group: Diff) -> None:
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
