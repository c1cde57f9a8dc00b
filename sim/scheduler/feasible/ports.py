"""Host ports: what a task group's network asks for, whether a node can give it, and the offer.

Owns the port half of Nomad's NetworkIndex: the group network's static (reserved) ports must be
free on the node, dynamic ports come from the node's [min_dynamic_port, max_dynamic_port] range.
Checking is deterministic (used for every node the scan visits); the random pick of dynamic ports
happens only for the chosen node. Proposed port usage is a copy-on-write overlay on the table's
per-node port sets, so an evaluation never mutates the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from sim.state.node_table import NodeTable
from sim.structs.consts import MAX_VALID_PORT
from sim.structs.job import TaskGroup

MAX_RAND_PORT_ATTEMPTS = 20
ERR_DYNAMIC_PORTS = "dynamic port selection failed"


@dataclass(frozen=True, slots=True)
class PortAsk:
    """A group network's ports: static (label, value) pairs and dynamic labels, in ask order."""

    reserved: tuple[tuple[str, int], ...] = ()
    dynamic: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.reserved or self.dynamic)


def port_ask(tg: TaskGroup) -> PortAsk:
    """The ports of the group's first network (Nomad only offers Networks[0]); value 0 is dynamic."""
    if not tg.networks:
        return PortAsk()
    net = tg.networks[0]
    reserved = tuple((p.label, p.value) for p in net.reserved_ports if p.value != 0)
    dynamic = tuple(p.label for p in net.reserved_ports if p.value == 0)
    dynamic += tuple(p.label for p in net.dynamic_ports)
    return PortAsk(reserved, dynamic)


def check_ports(used: AbstractSet[int], lo: int, hi: int, ask: PortAsk) -> str | None:
    """The error AssignPorts would return on this node, or None when the ask can be met.

    Nomad: nomad/structs/network.go, NetworkIndex.AssignPorts (errors only).
    """
    for label, value in ask.reserved:
        if value < 0 or value >= MAX_VALID_PORT:
            return f"invalid port {value} (out of range)"
        if value in used:
            return f"reserved port collision {label}={value}"
    if ask.dynamic and _free_dynamic(used, lo, hi, ask) < len(ask.dynamic):
        return ERR_DYNAMIC_PORTS
    return None


def _free_dynamic(used: AbstractSet[int], lo: int, hi: int, ask: PortAsk) -> int:
    """Ports of [lo, hi] neither used on the node nor taken by the ask's static ports."""
    if hi < lo:
        return 0
    taken = {p for p in used if lo <= p <= hi}
    taken.update(v for _, v in ask.reserved if lo <= v <= hi)
    return hi - lo + 1 - len(taken)


def assign_ports(
    used: AbstractSet[int], lo: int, hi: int, ask: PortAsk, rng: np.random.Generator
) -> list[tuple[str, int]]:
    """Offer the ask's ports on a node that passed check_ports: static first, then dynamic.

    Nomad: nomad/structs/network.go, AssignPorts with getDynamicPortsStochastic (up to 20 random
    probes of `lo + rand(hi - lo)`) falling back to getDynamicPortsPrecise (a random free port).
    """
    offer = [(label, value) for label, value in ask.reserved]
    in_offer = {value for _, value in offer}
    first = _first_probes(used, lo, hi, in_offer, len(ask.dynamic), rng)
    if first is not None:
        return offer + list(zip(ask.dynamic, first, strict=True))
    for label in ask.dynamic:
        port = _stochastic_port(used, lo, hi, in_offer, rng)
        if port is None:
            port = _precise_port(used, lo, hi, in_offer, rng)
        offer.append((label, port))
        in_offer.add(port)
    return offer


def _first_probes(
    used: AbstractSet[int], lo: int, hi: int, in_offer: set[int], count: int, rng: np.random.Generator
) -> list[int] | None:
    """Every dynamic port's first random probe at once; None unless they all succeed."""
    if hi - lo <= 0:
        return None
    probes: list[int] = (lo + rng.integers(hi - lo, size=count)).tolist()
    if len(set(probes)) < count or any(p in used or p in in_offer for p in probes):
        return None
    return probes


def _stochastic_port(used: AbstractSet[int], lo: int, hi: int, in_offer: set[int], rng: np.random.Generator) -> int | None:
    for _ in range(MAX_RAND_PORT_ATTEMPTS):
        port = lo + int(rng.integers(hi - lo)) if hi - lo > 0 else lo
        if port not in used and port not in in_offer:
            return port
    return None


def _precise_port(used: AbstractSet[int], lo: int, hi: int, in_offer: set[int], rng: np.random.Generator) -> int:
    free = [p for p in range(lo, hi + 1) if p not in used and p not in in_offer]
    if not free:
        raise ValueError(ERR_DYNAMIC_PORTS)  # check_ports guarantees a free port
    return free[int(rng.integers(len(free)))]


class EditedPorts(AbstractSet[int]):
    """A node's used ports as a plan leaves them: the table's set (never changed here) with the
    plan's edits as a small delta, so an edit copies nothing. `added` holds ports not in the base,
    `removed` ports of the base freed; the two never overlap the other side."""

    __slots__ = ("base", "added", "removed")

    def __init__(self, base: set[int]) -> None:
        self.base = base
        self.added: set[int] = set()
        self.removed: set[int] = set()

    def __contains__(self, port: object) -> bool:
        return port in self.added or (port in self.base and port not in self.removed)

    def __iter__(self) -> Iterator[int]:
        removed = self.removed
        for port in self.base:
            if port not in removed:
                yield port
        yield from self.added

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    def add_all(self, ports: Iterable[int]) -> None:
        """`set.update` of the ports."""
        base, added, removed = self.base, self.added, self.removed
        for port in ports:
            if port in removed:
                removed.discard(port)
            elif port not in base:
                added.add(port)

    def remove_all(self, ports: Iterable[int]) -> None:
        """`set.difference_update` of the ports."""
        base, added, removed = self.base, self.added, self.removed
        for port in ports:
            if port in added:
                added.discard(port)
            elif port in base:
                removed.add(port)


class PortOverlay:
    """Per-node used ports as the plan would leave them: the table's sets plus per-node deltas
    (the table does not change while an evaluation's overlay lives)."""

    def __init__(self, table: NodeTable) -> None:
        self._table = table
        self._edited: dict[int, EditedPorts] = {}

    def used(self, row: int) -> AbstractSet[int]:
        """The node's used ports (read only)."""
        edited = self._edited.get(row)
        return edited if edited is not None else self._table.used_ports[row]

    def sizes(self, rows: list[int]) -> list[int]:
        """How many ports each of the nodes uses."""
        edited, base = self._edited, self._table.used_ports
        return [len(edited[r]) if r in edited else len(base[r]) for r in rows]

    def failures(self, rows: np.ndarray, span: np.ndarray, ask: PortAsk) -> list[tuple[int, str]]:
        """Nomad: NetworkIndex.AssignPorts as BinPackIterator's first check: (index into `rows`,
        error) of each node whose ports cannot take the ask. Without reserved ports, a node with
        more free dynamic ports than asked (`span`: each row's dynamic range size) passes unread."""
        doubtful: Sequence[int]
        if ask.reserved:
            doubtful = range(len(rows))
        else:
            sizes = np.array(self.sizes(rows.tolist()), dtype=np.int64)
            doubtful = np.flatnonzero(sizes + len(ask.dynamic) > span[rows]).tolist()
        out = []
        for j in doubtful:
            row = int(rows[j])
            node = self._table.nodes[row]
            error = check_ports(self.used(row), node.min_dynamic_port, node.max_dynamic_port, ask)
            if error is not None:
                out.append((j, error))
        return out

    def add(self, row: int, ports: list[int]) -> None:
        """Mark ports used on a node."""
        if ports:
            self._own(row).add_all(ports)

    def remove(self, row: int, ports: list[int]) -> None:
        """Free ports on a node."""
        if ports:
            self._own(row).remove_all(ports)

    def _own(self, row: int) -> EditedPorts:
        edited = self._edited.get(row)
        if edited is None:
            edited = self._edited[row] = EditedPorts(self._table.used_ports[row])
        return edited
