"""Task-level networks and bandwidth: a node's NICs and the networks an allocation holds.

Nomad: nomad/structs/structs.go NetworkResource as a node's `NodeResources.Networks` entry (a
NIC: Device, CIDR, IP, MBits) and as an allocation's `AllocatedResources.Tasks[task].Networks`
(the offer of a deprecated `task.resources.network` ask: Device, IP, MBits, ports). The group
network's host ports are `Allocation.ports` (sim.scheduler.feasible.ports); a group network is
held with the device and MBits of its job's ask (Nomad: AllocatedPortsToNetworkResouce).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from sim.structs.job import TaskGroup


@dataclass(frozen=True, slots=True)
class NodeNetwork:
    """Nomad: a NetworkResource of NodeResources.Networks: one NIC and its bandwidth."""

    device: str
    cidr: str
    mbits: int
    ip: str = ""

    def addresses(self) -> Iterator[str]:
        """Nomad: NetworkIndex.yieldIP: every address of the CIDR from its masked base (none
        when the CIDR does not parse)."""
        try:
            net = ipaddress.ip_network(self.cidr, strict=False)
        except ValueError:
            return iter(())
        return (str(a) for a in net)


@dataclass(frozen=True, slots=True)
class AllocatedNetwork:
    """Nomad: the NetworkResource an alloc holds: a task's network offer (`task` set), or the
    group network (`task` ""), on `device` and `ip` with `mbits` and host ports (label, value)."""

    task: str
    device: str
    ip: str
    mbits: int
    reserved_ports: tuple[tuple[str, int], ...] = ()
    dynamic_ports: tuple[tuple[str, int], ...] = ()

    def port_values(self) -> list[int]:
        """Every host port it holds, reserved then dynamic."""
        return [v for _, v in self.reserved_ports] + [v for _, v in self.dynamic_ports]


@dataclass(frozen=True, slots=True)
class TaskNetworkAsk:
    """Nomad: `task.Resources.Networks[0]`, the deprecated task network a BinPack offers."""

    task: str
    mbits: int
    reserved_ports: tuple[tuple[str, int], ...]
    dynamic_ports: tuple[str, ...]


def task_network_asks(tg: TaskGroup) -> tuple[TaskNetworkAsk, ...]:
    """The group's task network asks in task order (each task's first network only, as Nomad)."""
    out = []
    for task in tg.tasks:
        nets = task.resources.networks if task.resources is not None else []
        if nets:
            n = nets[0]
            out.append(TaskNetworkAsk(task.name, n.mbits, tuple((p.label, p.value) for p in n.reserved_ports),
                                      tuple(p.label for p in n.dynamic_ports)))
    return tuple(out)


def group_network(tg: TaskGroup | None, reserved: tuple[tuple[str, int], ...]) -> AllocatedNetwork | None:
    """The group network an alloc of `tg` holds, with its reserved ports (None without one)."""
    if tg is None or not tg.networks:
        return None
    net = tg.networks[0]
    return AllocatedNetwork("", net.device, net.ip, net.mbits, reserved)
