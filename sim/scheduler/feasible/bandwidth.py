"""Task networks: NIC bandwidth and per-address host ports, as BinPack offers them.

Nomad: nomad/structs/network.go, the task-network half of NetworkIndex (SetNode's NICs and
AvailBandwidth, AddAllocs/AddReserved's UsedBandwidth and per-IP ports, AssignTaskNetwork) and
the task loop of BinPackIterator (scheduler/rank.go). Only nodes that declare NICs
(`NodeResources.networks`) are indexed: elsewhere task networks are not modelled and never
fail a placement. Only groups whose tasks ask for a network reach this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from sim.scheduler.feasible.ports import PortAsk, assign_ports, check_ports
from sim.scheduler.feasible.proposed import ProposedState
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.consts import CLIENT_TERMINAL
from sim.structs.networks import AllocatedNetwork, NodeNetwork, TaskNetworkAsk, group_network
from sim.structs.node import Node, parse_port_spec

NO_NETWORKS = "no networks available"
BANDWIDTH_EXCEEDED = "bandwidth exceeded"


def held_networks(alloc: Allocation) -> list[AllocatedNetwork]:
    """What Nomad's NetworkIndex.AddAllocs reserves for an alloc: nothing beyond its group host
    ports when it has some (`Shared.Ports`); else its group network, then its task networks."""
    if alloc.ports:
        return []
    tg = alloc.job.lookup_task_group(alloc.task_group)
    shared = group_network(tg, ())
    return ([shared] if shared is not None else []) + list(alloc.networks)


class NetworkIndex:
    """Nomad: NetworkIndex for task networks on one node: bandwidth per device, ports per address."""

    def __init__(self, node: Node, allocs: Sequence[Allocation] = ()) -> None:
        self.node = node
        self.nics: list[NodeNetwork] = [n for n in node.resources.networks if n.device]
        self.avail = {n.device: n.mbits for n in self.nics}
        self.used_bandwidth: dict[str, int] = {}
        self.used_ports: dict[str, set[int]] = {}
        reserved = parse_port_spec(node.reserved.reserved_ports)
        for n in self.nics:  # Nomad marks the node's reserved ports on the NIC's IP field
            self._ports(n.ip).update(reserved)
        for alloc in allocs:
            if alloc.client_status not in CLIENT_TERMINAL:
                for net in held_networks(alloc):
                    self.add(net)

    def _ports(self, ip: str) -> set[int]:
        ports = self.used_ports.get(ip)
        if ports is None:
            ports = self.used_ports[ip] = set()
        return ports

    def add(self, net: AllocatedNetwork) -> None:
        """Nomad: NetworkIndex.AddReserved (collisions are not reported)."""
        self._ports(net.ip).update(net.port_values())
        self.used_bandwidth[net.device] = self.used_bandwidth.get(net.device, 0) + net.mbits

    def assign(self, ask: TaskNetworkAsk, rng: np.random.Generator | None = None) -> AllocatedNetwork | str:
        """Nomad: AssignTaskNetwork: the first address of the first NIC with the bandwidth left
        and the ask's ports free, or the last error. Without `rng` the dynamic ports are only
        checked (the offer lists none)."""
        error = NO_NETWORKS
        ports = PortAsk(ask.reserved_ports, ask.dynamic_ports)
        lo, hi = self.node.min_dynamic_port, self.node.max_dynamic_port
        for nic in self.nics:
            addresses = nic.addresses()
            if self.used_bandwidth.get(nic.device, 0) + ask.mbits > self.avail[nic.device]:
                if next(addresses, None) is not None:  # Nomad fails each address the same way
                    error = BANDWIDTH_EXCEEDED
                continue
            for ip in addresses:
                used: AbstractSet[int] = self.used_ports.get(ip, set())
                failed = check_ports(used, lo, hi, ports)
                if failed is not None:
                    error = failed
                    continue
                dynamic: tuple[tuple[str, int], ...] = ()
                if rng is not None and ask.dynamic_ports:
                    dynamic = tuple(assign_ports(used, lo, hi, ports, rng)[len(ask.reserved_ports):])
                return AllocatedNetwork(ask.task, nic.device, ip, ask.mbits, ask.reserved_ports, dynamic)
        return error

    def free_bandwidth(self, device: str) -> int:
        """AvailBandwidth less UsedBandwidth on a device."""
        return self.avail.get(device, 0) - self.used_bandwidth.get(device, 0)


def offer_task_networks(
    node: Node, allocs: Sequence[Allocation], asks: Sequence[TaskNetworkAsk], rng: np.random.Generator | None = None,
) -> tuple[AllocatedNetwork, ...] | str:
    """BinPack's task loop for the networks: each task's offer, reserved before the next; or the
    error Nomad records as "network: <error>". A node without NICs offers nothing and never fails."""
    if not node.resources.networks:
        return ()
    index = NetworkIndex(node, allocs)
    out = []
    for ask in asks:
        offer = index.assign(ask, rng)
        if isinstance(offer, str):
            return offer
        index.add(offer)
        out.append(offer)
    return tuple(out)


NodeAllocs = Callable[[str], list[Allocation]]  # the state's allocs on a node (Nomad: AllocsByNode)


def proposed_allocs(proposed: ProposedState, node_allocs: NodeAllocs | None, node_id: str) -> list[Allocation]:
    """Nomad: EvalContext.ProposedAllocs: the node's live allocs less the plan's stops and
    preemptions, plus the plan's placements (an in-place update replaces its alloc)."""
    out: dict[str, Allocation] = {}
    for a in node_allocs(node_id) if node_allocs is not None else ():
        if not a.terminal() and not proposed.is_stopped(a):
            out[a.id] = a
    for a in proposed.placed:
        if a.node_id == node_id and not proposed.is_stopped(a):
            out[a.id] = a
    return list(out.values())


def task_network_failures(
    table: NodeTable, proposed: ProposedState, node_allocs: NodeAllocs | None, rows: np.ndarray,
    asks: Sequence[TaskNetworkAsk],
) -> list[tuple[int, str]]:
    """(index into `rows`, error) of each node with NICs whose task networks cannot be offered."""
    out = []
    nodes = table.nodes
    for j, row in enumerate(rows.tolist()):
        node = nodes[row]
        if node.resources.networks:
            offer = offer_task_networks(node, proposed_allocs(proposed, node_allocs, node.id), asks)
            if isinstance(offer, str):
                out.append((j, offer))
    return out
