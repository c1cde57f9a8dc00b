"""Devices in the placement stack: the device checker, the device allocator and device scores.

Nomad: scheduler/feasible.go (DeviceChecker, nodeDeviceMatches, resolveDeviceTarget,
checkAttributeConstraint), scheduler/device.go (deviceAllocator.AssignDevice,
deviceIDMatchesConstraint) and the device part of BinPackIterator (scheduler/rank.go). Only
groups that ask for devices reach this module: the static mask is computed once per distinct
device inventory, the allocator runs per candidate node of a chunk.

Where Nomad iterates a Go map (the node's device groups, a group's instances), its order is
random: the allocator that makes the final offer takes the device groups and their free instances
in an order drawn from the scheduler's random stream (among equally scored groups the first in
that order wins). Ranking needs only whether an offer exists and its score, which the order does
not change, so it draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.constraints import (
    check_regexp_match,
    check_set_contains_all,
    check_set_contains_any,
    check_version_match,
)
from sim.state.node_table import NodeTable
from sim.structs.attribute import Attribute, parse_attribute
from sim.structs.devices import AllocatedDevice, NodeDeviceResource, RequestedDevice, id_matches
from sim.structs.job import Affinity, Constraint

NO_DEVICES = "no devices available"
ZERO_DEVICES = "invalid request of zero devices"
NO_MATCH = "no devices match request"

GroupAsk = Sequence[tuple[str, RequestedDevice]]  # (task name, request) in task order
T = TypeVar("T")


def resolve_device_target(target: str, device: NodeDeviceResource) -> tuple[Attribute | None, bool]:
    """Nomad: resolveDeviceTarget: a literal, or the device's ids, model, vendor, type or attribute."""
    if not target.startswith("${"):
        return parse_attribute(target), True
    if target == "${device.ids}":
        return Attribute(string=",".join(device.instance_ids)), True
    if target == "${device.model}":
        return Attribute(string=device.name), True
    if target == "${device.vendor}":
        return Attribute(string=device.vendor), True
    if target == "${device.type}":
        return Attribute(string=device.type), True
    if target.startswith("${device.attr."):
        value = device.typed_attributes.get(target[len("${device.attr."):].removesuffix("}"))
        return value, value is not None
    return None, False


def check_attribute_constraint(operand: str, left: Attribute | None, right: Attribute | None,
                               l_found: bool, r_found: bool) -> bool:
    """Nomad: checkAttributeConstraint (typed attributes, units compared by their base)."""
    if operand in ("distinct_hosts", "distinct_property"):
        return True
    if operand in ("!=", "not"):
        if not (l_found or r_found):
            return False
        if l_found != r_found:
            return True
        v = left.compare(right) if left is not None and right is not None else None
        return v is not None and v != 0
    if operand in ("<", "<=", ">", ">=", "=", "==", "is"):
        if not (l_found and r_found) or left is None or right is None:
            return False
        v = left.compare(right)
        if v is None:
            return False
        return {"is": v == 0, "==": v == 0, "=": v == 0, "<": v == -1, "<=": v != 1, ">": v == 1,
                ">=": v != -1}[operand]
    if operand == "is_set":
        return l_found
    if operand == "is_not_set":
        return not l_found
    if not (l_found and r_found) or left is None or right is None:
        return False
    if operand in ("version", "semver"):
        text = left.string if left.string is not None else (str(left.int_value) if left.int_value is not None else None)
        return text is not None and right.string is not None and \
            check_version_match(text, right.string, strict_semver=operand == "semver")
    if left.string is None or right.string is None:
        return False
    if operand == "regexp":
        return check_regexp_match(left.string, right.string)
    if operand in ("set_contains", "set_contains_all"):
        return check_set_contains_all(left.string, right.string)
    if operand == "set_contains_any":
        return check_set_contains_any(left.string, right.string)
    return False


def _holds(c: Constraint | Affinity, device: NodeDeviceResource) -> bool:
    left, l_found = resolve_device_target(c.l_target, device)
    right, r_found = resolve_device_target(c.r_target, device)
    return check_attribute_constraint(c.operand, left, right, l_found, r_found)


def node_device_matches(device: NodeDeviceResource, req: RequestedDevice) -> bool:
    """Nomad: nodeDeviceMatches: the device's ID covers the ask and every constraint holds."""
    return id_matches(device.id_tuple(), req.id_tuple()) and all(_holds(c, device) for c in req.constraints)


def has_devices(devices: Sequence[NodeDeviceResource], asks: GroupAsk) -> bool:
    """Nomad: DeviceChecker.hasDevices: each request is matched by a device group with enough
    healthy instances left (what earlier requests took is subtracted)."""
    if not asks:
        return True
    available = {i: len(d.instance_ids) for i, d in enumerate(devices) if d.instance_ids}
    for _, req in asks:
        for i, unused in available.items():
            if unused and unused >= req.count and node_device_matches(devices[i], req):
                available[i] -= req.count
                break
        else:
            return False
    return True


def device_mask(table: NodeTable, asks: GroupAsk) -> npt.NDArray[np.bool_]:
    """The DeviceChecker's verdict per node, computed once per distinct device inventory."""
    verdicts: dict[tuple[NodeDeviceResource, ...], bool] = {}
    mask = np.zeros(len(table), dtype=bool)
    for row, node in enumerate(table.nodes):
        devices = node.resources.devices
        if devices:
            ok = verdicts.get(devices)
            if ok is None:
                ok = verdicts[devices] = has_devices(devices, asks)
            mask[row] = ok
    return mask


@dataclass(slots=True)
class DeviceOffer:
    """What the allocator assigns on one node: the devices per task and the affinity score."""

    devices: tuple[AllocatedDevice, ...]
    score: float | None  # matched affinity weight over the total (None: no device affinities)


def assign_devices(devices: Sequence[NodeDeviceResource], held: AbstractSet[str], asks: GroupAsk,
                   rng: np.random.Generator | None = None) -> DeviceOffer | str:
    """Nomad: BinPackIterator's device loop: AssignDevice per request, each offer reserved before
    the next. Returns the offer, or the error Nomad reports as "devices: <error>". With `rng`,
    groups and instances are visited in a random order (Go's map iteration), else in node order."""
    taken: set[str] = set()
    out: list[AllocatedDevice] = []
    total_weight = matched = 0.0
    for task, req in asks:
        found = _assign(devices, held, taken, req, rng)
        if isinstance(found, str):
            return found
        offer, weights = found
        taken.update(offer.device_ids)
        out.append(AllocatedDevice(task, offer.vendor, offer.type, offer.name, offer.device_ids))
        if req.affinities:
            total_weight += sum(abs(float(a.weight)) for a in req.affinities)
            matched += weights
    return DeviceOffer(tuple(out), matched / total_weight if total_weight else None)


def assign_device(devices: Sequence[NodeDeviceResource], held: AbstractSet[str], taken: AbstractSet[str],
                  req: RequestedDevice) -> tuple[AllocatedDevice, float] | str:
    """Nomad: deviceAllocator.AssignDevice for one request, groups and instances in node order:
    the offer (task left empty) and its matched affinity weights, or the error."""
    return _assign(devices, held, taken, req, None)


def _assign(devices: Sequence[NodeDeviceResource], held: AbstractSet[str], taken: AbstractSet[str],
            req: RequestedDevice, rng: np.random.Generator | None) -> tuple[AllocatedDevice, float] | str:
    """Nomad: deviceAllocator.AssignDevice: the best scored matching group with enough free instances."""
    if not devices:
        return NO_DEVICES
    if req.count == 0:
        return ZERO_DEVICES
    best: tuple[AllocatedDevice, float] | None = None
    best_score = 0.0
    for device in _ordered(devices, rng):
        free = [i for i in device.instance_ids if i not in held and i not in taken]
        if len(free) < req.count or not node_device_matches(device, req):
            continue
        score = weights = 0.0
        if req.affinities:
            total = 0.0
            for a in req.affinities:
                total += abs(float(a.weight))
                if _holds(a, device):
                    score += a.weight
                    weights += a.weight
            score /= total
        if best is not None and score <= best_score:  # the first of equal scores stays
            continue
        ids = [i for i in _ordered(free, rng) if _id_allowed(i, req.constraints, device)][: req.count]
        best, best_score = (AllocatedDevice("", device.vendor, device.type, device.name, tuple(ids)), weights), score
    return best if best is not None else NO_MATCH


def _ordered(items: Sequence[T], rng: np.random.Generator | None) -> Sequence[T]:
    """The items in a random order drawn from `rng` (as Go iterates a map), or as they are."""
    if rng is None or len(items) < 2:
        return items
    return [items[i] for i in rng.permutation(len(items)).tolist()]


def _id_allowed(instance: str, constraints: Sequence[Constraint], device: NodeDeviceResource) -> bool:
    """Nomad: deviceIDMatchesConstraint: constraints on `${device.ids}` filter single instances."""
    for c in constraints:
        if c.l_target == "${device.ids}":
            target = resolve_device_target(c.r_target, device)[0]
        elif c.r_target == "${device.ids}":
            target = resolve_device_target(c.l_target, device)[0]
        else:
            continue
        if not check_attribute_constraint(c.operand, target, Attribute(string=instance), True, True):
            return False
    return True
