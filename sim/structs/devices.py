"""Devices (GPUs and the like): what nodes carry, what tasks ask for, what allocations hold.

Nomad: nomad/structs/structs.go NodeDeviceResource, RequestedDevice (ID, Validate),
DeviceIdTuple (Matches), AllocatedDeviceResource; api/resources.go RequestedDevice.Canonicalize.
A task's ask stays in its Resources as Nomad's JSON (`Resources.Devices`, so the codec, diffs
and the API see Nomad's shape) and is read into `RequestedDevice`s here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sim.errors import ValidationError
from sim.structs.attribute import Attribute, parse_attribute
from sim.structs.gojson import json_kind
from sim.structs.job import Affinity, Constraint, Resources, TaskGroup

DEFAULT_DEVICE_COUNT = 1  # api/resources.go RequestedDevice.Canonicalize
DEFAULT_AFFINITY_WEIGHT = 50  # api/constraint.go Affinity.Canonicalize
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class NodeDeviceResource:
    """Nomad: structs.NodeDeviceResource: a group of identical devices on a node (all healthy)."""

    vendor: str
    type: str
    name: str
    instance_ids: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...] = ()  # as written: "80 GiB", "6912"

    def id_tuple(self) -> tuple[str, str, str]:
        """Nomad: NodeDeviceResource.ID: (vendor, type, name)."""
        return self.vendor, self.type, self.name

    @cached_property
    def typed_attributes(self) -> dict[str, Attribute]:
        """The attributes parsed with their units (Nomad stores them typed)."""
        return {k: parse_attribute(v) for k, v in self.attributes}


@dataclass(frozen=True, slots=True)
class RequestedDevice:
    """Nomad: structs.RequestedDevice: `Name` is type, vendor/type or vendor/type/name."""

    name: str
    count: int
    constraints: tuple[Constraint, ...] = ()
    affinities: tuple[Affinity, ...] = ()

    def id_tuple(self) -> tuple[str, str, str]:
        """Nomad: RequestedDevice.ID: the name split in at most three parts ("" = any)."""
        parts = self.name.split("/", 2)
        if len(parts) == 1:
            return "", parts[0], ""
        if len(parts) == 2:
            return parts[0], parts[1], ""
        return parts[0], parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class AllocatedDevice:
    """Nomad: structs.AllocatedDeviceResource, with the task it was assigned to."""

    task: str
    vendor: str
    type: str
    name: str
    device_ids: tuple[str, ...]


def id_matches(device: tuple[str, str, str], asked: tuple[str, str, str]) -> bool:
    """Nomad: DeviceIdTuple.Matches: every part the ask names is the device's."""
    return all(not a or a == d for d, a in zip(device, asked, strict=True))


def requested_devices(resources: Resources | None) -> list[RequestedDevice]:
    """A task's `Resources.Devices` (validated JSON) as RequestedDevices."""
    if resources is None:
        return []
    raw = resources.extra.get("Devices")
    if not raw:
        return []
    return [_requested(d) for d in raw if d is not None]


def group_devices(tg: TaskGroup) -> list[tuple[str, RequestedDevice]]:
    """Every (task name, request) of a group in task order (Nomad: DeviceChecker.SetTaskGroup)."""
    return [(t.name, r) for t in tg.tasks for r in requested_devices(t.resources)]


def group_devices_key(tg: TaskGroup) -> str:
    """The group's device asks as one canonical string ("" when it asks for none): a memo key."""
    asks = [[t.name, t.resources.extra["Devices"]] for t in tg.tasks
            if t.resources is not None and t.resources.extra.get("Devices")]
    return json.dumps(asks, sort_keys=True, separators=(",", ":")) if asks else ""


def devices_of_key(key: str) -> list[tuple[str, RequestedDevice]]:
    """`group_devices` back from a `group_devices_key`."""
    return [(task, _requested(d)) for task, raw in json.loads(key) for d in raw if d is not None] if key else []


def _requested(d: dict[str, Any]) -> RequestedDevice:
    constraints = tuple(Constraint(c.get("LTarget") or "", c.get("RTarget") or "", c.get("Operand") or "")
                        for c in d.get("Constraints") or [] if c is not None)
    affinities = tuple(Affinity(a.get("LTarget") or "", a.get("RTarget") or "", a.get("Operand") or "",
                                int(a.get("Weight") or 0)) for a in d.get("Affinities") or [] if a is not None)
    count = d.get("Count")
    return RequestedDevice(d.get("Name") or "", DEFAULT_DEVICE_COUNT if count is None else int(count),
                           constraints, affinities)


def canonicalize_devices(resources: Resources) -> None:
    """Nomad: api/resources.go RequestedDevice.Canonicalize: Count defaults to 1, affinity weights to 50."""
    devices = resources.extra.get("Devices")
    for d in devices if isinstance(devices, list) else []:
        if not isinstance(d, dict):
            continue
        if d.get("Count") is None:
            d["Count"] = DEFAULT_DEVICE_COUNT
        affinities = d.get("Affinities")
        for a in affinities if isinstance(affinities, list) else []:
            if isinstance(a, dict) and a.get("Weight") is None:
                a["Weight"] = DEFAULT_AFFINITY_WEIGHT


def check_devices_json(value: Any, path: str) -> None:
    """Go's decoder on `Resources.Devices` ([]*RequestedDevice): a ValidationError on a wrong type."""
    if value is None:
        return
    where = "Job.TaskGroups.Tasks.Resources.Devices"
    if not isinstance(value, list):
        raise ValidationError(path, f"json: cannot unmarshal {json_kind(value)} into Go struct field Resources.{where} "
                                    "of type []*api.RequestedDevice")
    for i, d in enumerate(value):
        _check_object(d, f"{path}[{i}]", "RequestedDevice", where, _DEVICE_FIELDS)
        for key, struct in (("Constraints", "Constraint"), ("Affinities", "Affinity")):
            for j, item in enumerate(d.get(key) or [] if isinstance(d, dict) else []):
                _check_object(item, f"{path}[{i}].{key}[{j}]", struct, f"{where}.{key}", _TARGET_FIELDS)


_DEVICE_FIELDS = {"Name": ("string", str), "Count": ("uint64", int), "Constraints": ("[]*api.Constraint", list),
                  "Affinities": ("[]*api.Affinity", list)}
_TARGET_FIELDS = {"LTarget": ("string", str), "RTarget": ("string", str), "Operand": ("string", str),
                  "Weight": ("int8", int)}
_RANGES = {"uint64": (0, _UINT64_MAX), "int8": (-128, 127)}


def _check_object(value: Any, path: str, struct: str, where: str, fields: dict[str, tuple[str, type]]) -> None:
    """One JSON object of a Go struct: each known field of its Go type (null is always fine)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValidationError(path, f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                                    f"{where} of type api.{struct}")
    for key, (gotype, kind) in fields.items():
        v = value.get(key)
        if v is None:
            continue
        ok = isinstance(v, kind) and not isinstance(v, bool)
        lo, hi = _RANGES.get(gotype, (None, None))
        literal = ok and lo is not None and not lo <= v <= hi
        if not ok or literal:
            found = json_kind(v, literal)
            raise ValidationError(f"{path}.{key}", f"json: cannot unmarshal {found} into Go struct field "
                                                   f"{struct}.{where}.{key} of type {gotype}")
