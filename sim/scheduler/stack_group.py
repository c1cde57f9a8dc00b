"""A task group's inputs to the placement stages, for the job a stack is set to.

Nomad: scheduler/feasible/stack.go, the SetTaskGroup calls of GenericStack.Select: the group's
static feasibility, its ask and ports, distinct_hosts, node affinities; and, built once per group
name and job (Nomad keeps them in the iterators), its distinct_property and spread sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.node_table import NodeTable
from sim.scheduler.feasible import FeasibilityCache, StaticFeasibility, distinct_hosts_enabled
from sim.scheduler.ports import PortAsk, port_ask
from sim.scheduler.rank import affinity_scores, group_affinities, group_ask
from sim.scheduler.spread import (
    PropertySet,
    SpreadInfo,
    distinct_property_sets,
    spread_infos,
    spread_sets,
)
from sim.structs.job import Job, TaskGroup


@dataclass(slots=True)
class GroupInputs:
    """A task group's inputs to the stages for the current job (Nomad: the Set*TaskGroup calls)."""

    tg: TaskGroup
    static: StaticFeasibility
    ask: np.ndarray
    ports: PortAsk
    count: int
    distinct_hosts: str  # "job", "group" or ""
    property_sets: list[PropertySet]
    affinity: np.ndarray | None
    spread_sets: list[PropertySet]
    spread_infos: dict[str, SpreadInfo]


def group_inputs(cache: FeasibilityCache, table: NodeTable, job: Job, tg: TaskGroup, system: bool) -> GroupInputs:
    """The inputs that follow the TaskGroup object (property and spread sets left empty)."""
    distinct = "job" if distinct_hosts_enabled(job.constraints) else "group" if distinct_hosts_enabled(tg.constraints) else ""
    affinities = [] if system else group_affinities(job, tg)
    return GroupInputs(
        tg, cache.group(table, job, tg), np.array(group_ask(tg), dtype=np.float64), port_ask(tg),
        tg.count if tg.count is not None else 1, "" if system else distinct, [],
        affinity_scores(cache, table, affinities) if affinities else None, [], {},
    )


def add_group_sets(
    g: GroupInputs, cache: FeasibilityCache, table: NodeTable, job: Job, job_property_sets: list[PropertySet],
    system: bool,
) -> int:
    """Fill the group's distinct_property sets (the job's, then its own) and, outside system
    jobs, its spread sets and info. Returns the spread weight the group adds to the stack's sum."""
    tg = g.tg
    g.property_sets = job_property_sets + distinct_property_sets(cache, table, tg.constraints, tg.name)
    if system:
        return 0
    g.spread_sets = spread_sets(cache, table, list(job.spreads) + list(tg.spreads), tg.name)
    g.spread_infos, added = spread_infos(job, tg)
    return added
