"""Client nodes as the servers see them. Nomad: nomad/structs/structs.go `Node`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.structs.consts import (
    DEFAULT_MAX_DYNAMIC_PORT,
    DEFAULT_MIN_DYNAMIC_PORT,
    NODE_ELIGIBLE,
    NODE_STATUS_READY,
)
from sim.structs.devices import NodeDeviceResource
from sim.structs.networks import NodeNetwork


@dataclass(slots=True)
class NodeResources:
    """Total or reserved node resources: CPU MHz, memory MB, disk MB and reserved host ports."""

    cpu: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    reserved_ports: str = ""  # Nomad's port spec, e.g. "22,80,8000-8010"
    devices: tuple[NodeDeviceResource, ...] = ()  # NodeResources.Devices (none when reserved)
    networks: tuple[NodeNetwork, ...] = ()  # NodeResources.Networks: NICs for task networks (none when reserved)


MAX_RETAINED_NODE_EVENTS = 10  # Nomad: structs.MaxRetainedNodeEvents

# Node event subsystems and messages. Nomad: structs.NodeEventSubsystem*, and the messages of
# nomad/state/state_store.go, nomad/node_endpoint.go, nomad/heartbeat.go, nomad/drainer/drainer.go.
SUBSYSTEM_CLUSTER = "Cluster"
SUBSYSTEM_DRAIN = "Drain"
NODE_REGISTERED = "Node registered"
NODE_HEARTBEAT_MISSED = "Node heartbeat missed"
NODE_REREGISTERED_BY_HEARTBEAT = "Node reregistered by heartbeat"
NODE_DRAIN_SET = "Node drain strategy set"
NODE_DRAIN_UPDATED = "Node drain strategy updated"
NODE_DRAIN_DISABLED = "Node drain disabled"
NODE_DRAIN_COMPLETE = "Node drain complete"
NODE_DRAIN_DEADLINED = "deadline_reached"  # detail key of a drain completed by its deadline
NODE_ELIGIBLE_EVENT = "Node marked as eligible for scheduling"
NODE_INELIGIBLE_EVENT = "Node marked as ineligible for scheduling"

DRAIN_STATUS_DRAINING = "draining"
DRAIN_STATUS_COMPLETE = "complete"
DRAIN_STATUS_CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """Nomad: structs.NodeEvent. `timestamp` in simulated seconds; `create_index` set on write
    (frozen: nodes registered in one write share their `Node registered` event)."""

    message: str
    subsystem: str
    timestamp: float
    details: dict[str, str] | None = None
    create_index: int = 0


@dataclass(frozen=True, slots=True)
class DrainStrategy:
    """Nomad: structs.DrainStrategy (DrainSpec embedded). `deadline` in seconds: 0 waits as long
    as it takes, negative forces at once; `force_deadline` and `started_at` in simulated seconds
    (`force_deadline` None unless the deadline is positive)."""

    deadline: float
    ignore_system_jobs: bool = False
    started_at: float = 0.0
    force_deadline: float | None = None


@dataclass(frozen=True, slots=True)
class DrainMetadata:
    """Nomad: structs.DrainMetadata, a node's `LastDrain`. Times in simulated seconds."""

    started_at: float
    updated_at: float
    status: str
    accessor_id: str = ""
    meta: dict[str, str] = field(default_factory=dict)


def next_last_drain(old: DrainStrategy | None, new: DrainStrategy | None, last: DrainMetadata | None,
                    now: float, completed: bool = False, meta: dict[str, str] | None = None,
                    accessor_id: str = "") -> DrainMetadata | None:
    """A node's LastDrain after its drain strategy went from `old` to `new` at `now`.

    Nomad: state_store.go updateNodeDrainImpl: unchanged when neither is set; a new drain starts
    a new record; the status is `draining` while a strategy is set, then `complete` (the drainer
    finished) or `canceled`; operator meta and accessor are kept unless new ones are given.
    """
    if old is None and new is None:
        return last
    if (old is None and new is not None) or last is None:
        started = now if old is None else old.started_at
        last = DrainMetadata(started_at=started, updated_at=now, status=DRAIN_STATUS_DRAINING, meta=dict(meta or {}))
    status = DRAIN_STATUS_DRAINING if new is not None else DRAIN_STATUS_COMPLETE if completed else DRAIN_STATUS_CANCELED
    return DrainMetadata(started_at=last.started_at, updated_at=now, status=status,
                         accessor_id=accessor_id or last.accessor_id, meta=dict(meta) if meta else last.meta)


@dataclass(slots=True)
class Node:
    """A client node: identity, placement attributes, resources and status."""

    id: str
    name: str
    datacenter: str = "dc1"
    node_class: str = ""
    node_pool: str = "default"
    attributes: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    drivers: list[str] = field(default_factory=list)
    resources: NodeResources = field(default_factory=NodeResources)
    reserved: NodeResources = field(default_factory=NodeResources)
    min_dynamic_port: int = DEFAULT_MIN_DYNAMIC_PORT
    max_dynamic_port: int = DEFAULT_MAX_DYNAMIC_PORT
    status: str = NODE_STATUS_READY
    status_description: str = ""
    scheduling_eligibility: str = NODE_ELIGIBLE
    drain: bool = False  # Nomad's Drain: a drain strategy is set
    drain_strategy: DrainStrategy | None = None
    last_drain: DrainMetadata | None = None
    events: tuple[NodeEvent, ...] = ()  # the last MAX_RETAINED_NODE_EVENTS, oldest first
    computed_class: str = ""
    create_index: int = 0
    modify_index: int = 0
    status_updated_at: float = 0.0  # simulated seconds (Nomad: Unix seconds)

    def ready(self) -> bool:
        """Nomad: Node.Ready: ready, eligible and not draining."""
        return self.status == NODE_STATUS_READY and self.scheduling_eligibility == NODE_ELIGIBLE and not self.drain


def parse_port_spec(spec: str) -> list[int]:
    """Nomad: structs.ParsePortRanges: "22,80,8000-8010" -> the ports, sorted and unique."""
    ports: set[int] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        lo, _, hi = part.partition("-")
        start, end = int(lo), int(hi or lo)
        if end < start:
            raise ValueError(f"invalid range {part!r}: {end} < {start}")
        ports.update(range(start, end + 1))
    return sorted(ports)
