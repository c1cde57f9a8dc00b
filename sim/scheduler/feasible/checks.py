"""Feasibility: which nodes may run a task group, as boolean masks over the node table.

Owns the vectorised evaluation of a constraint over every node (each of Nomad's operators, in
constraints.py, runs once per distinct attribute value, then maps back), a group's static
feasibility (per node, the first check that fails in Nomad's checker order), and the candidate
node set of a job. Dynamic checks that depend on the plan (distinct_hosts, distinct_property,
resources, ports) live in the stack's scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.constraints import check_constraint, go_parse_bool
from sim.scheduler.feasible.devices import device_mask
from sim.scheduler.node_sets import glob_match
from sim.state.node_table import NodeTable
from sim.structs.devices import devices_of_key, group_devices_key
from sim.structs.job import Constraint, Job, TaskGroup

FILTER_DRIVERS = "missing drivers"
FILTER_DEVICES = "missing devices"
FILTER_SECRETS = "missing secrets provider"
FILTER_CLASS_INELIGIBLE = "computed class ineligible"
NODE_POOL_ALL = "all"

Mask = npt.NDArray[np.bool_]  # one verdict per node (table row)
CheckArgs = tuple[str, ...]  # a check's arguments: a constraint's (l_target, operand, r_target), drivers, ...
Check = tuple[int, str, CheckArgs, "str | Constraint"]  # (stage, kind, args, metric reason)

# -- vectorised evaluation ----------------------------------------------------------------------


class FeasibilityCache:
    """Memo of attribute columns, constraint masks and group verdicts, valid for one table version.

    One cache may serve every evaluation of a simulation (pass it to the stacks): everything in
    it depends only on node properties and is dropped when the table's version changes.
    """

    def __init__(self) -> None:
        self._version = -1
        self._factors: dict[str, tuple[npt.NDArray[np.int32], list[str | None]]] = {}
        self._masks: dict[tuple[str, ...], Mask] = {}
        self._span: npt.NDArray[np.int64] | None = None
        self._groups: dict[tuple[tuple[int, str, CheckArgs], ...], StaticFeasibility] = {}
        self._candidates: dict[tuple[tuple[str, ...], str], tuple[npt.NDArray[np.intp], dict[str, int]]] = {}

    @staticmethod
    def of_table(table: NodeTable) -> FeasibilityCache:
        """The cache that travels with a node table, so every evaluation of a simulation shares
        it (it holds only node-derived data and resets itself when the table's version moves)."""
        cache = table.derived.get("feasibility")
        if not isinstance(cache, FeasibilityCache):
            cache = table.derived["feasibility"] = FeasibilityCache()
        return cache

    def sync(self, table: NodeTable) -> None:
        """Forget everything when the table changed since the last use."""
        if table.version != self._version:
            self._version = table.version
            self._factors.clear()
            self._masks.clear()
            self._span = None
            self._groups.clear()
            self._candidates.clear()

    def factor(self, table: NodeTable, target: str) -> tuple[npt.NDArray[np.int32], list[str | None]]:
        """A target over all nodes as integer codes and labels (label None: not found)."""
        self.sync(table)
        cached = self._factors.get(target)
        if cached is None:
            values, found = table.column(target)
            lookup: dict[str | None, int] = {}
            keys = (v if f else None for v, f in zip(values.tolist(), found.tolist(), strict=True))
            codes = np.fromiter((lookup.setdefault(k, len(lookup)) for k in keys), np.int32, len(values))
            cached = (codes, list(lookup))
            self._factors[target] = cached
        return cached

    def constraint_mask(self, table: NodeTable, l_target: str, operand: str, r_target: str) -> Mask:
        """Which nodes satisfy one constraint (or affinity), evaluated once per distinct value pair."""
        self.sync(table)
        key = ("c", l_target, operand, r_target)
        mask = self._masks.get(key)
        if mask is None:
            mask = self._evaluate(table, l_target, operand, r_target)
            self._masks[key] = mask
        return mask

    def _evaluate(self, table: NodeTable, l_target: str, operand: str, r_target: str) -> Mask:
        l_codes, l_labels = self._side(table, l_target)
        r_codes, r_labels = self._side(table, r_target)
        pairs = l_codes.astype(np.int64) * len(r_labels) + r_codes
        uniq, inverse = np.unique(pairs, return_inverse=True)
        verdicts = np.empty(len(uniq), dtype=bool)
        for i, pair in enumerate(uniq.tolist()):
            lv, rv = l_labels[pair // len(r_labels)], r_labels[pair % len(r_labels)]
            verdicts[i] = check_constraint(operand, lv or "", rv or "", lv is not None, rv is not None)
        mask: Mask = verdicts[inverse.reshape(-1)]
        return mask

    def _side(self, table: NodeTable, target: str) -> tuple[npt.NDArray[np.int32], list[str | None]]:
        if not target.startswith("${"):
            return np.zeros(len(table), dtype=np.int32), [target]
        return self.factor(table, target)

    def driver_mask(self, table: NodeTable, driver: str) -> Mask:
        """Nomad: DriverChecker.hasDrivers for one driver: detected and healthy, or `driver.<name>` true."""
        self.sync(table)
        key = ("d", driver)
        mask = self._masks.get(key)
        if mask is None:
            attr = f"driver.{driver}"
            mask = np.fromiter(
                (driver in n.drivers or go_parse_bool(n.attributes.get(attr, "")) is True for n in table.nodes),
                bool,
                len(table),
            )
            self._masks[key] = mask
        return mask

    def dynamic_span(self, table: NodeTable) -> npt.NDArray[np.int64]:
        """Per node, how many ports its dynamic range holds."""
        self.sync(table)
        span = self._span
        if span is None:
            span = np.fromiter((n.max_dynamic_port - n.min_dynamic_port + 1 for n in table.nodes), np.int64, len(table))
            self._span = span
        return span

    def candidates(self, table: NodeTable, job: Job) -> tuple[npt.NDArray[np.intp], dict[str, int]]:
        """`candidate_rows` memoised per (datacenters, node pool): the rows and the ready count per DC."""
        self.sync(table)
        key = (tuple(job.datacenters), job.node_pool)
        cached = self._candidates.get(key)
        if cached is None:
            cached = self._candidates[key] = _candidate_rows(table, job)
        return cached

    def available(self, table: NodeTable, rows: npt.NDArray[np.int64]) -> dict[str, int] | None:
        """The ready count per DC of rows that are a memoised candidate set (the same array), else None."""
        if table.version != self._version:
            return None
        for cached_rows, by_dc in self._candidates.values():
            if cached_rows is rows:
                return by_dc
        return None

    def group(self, table: NodeTable, job: Job, tg: TaskGroup) -> StaticFeasibility:
        """The group's static feasibility (memoised on everything it depends on)."""
        self.sync(table)
        checks = _group_checks(job, tg)
        key = tuple((stage, kind, args) for stage, kind, args, _ in checks)
        cached = self._groups.get(key)
        if cached is None:
            cached = _static_feasibility(self, table, checks)
            self._groups[key] = cached
        return cached


@dataclass(slots=True)
class StaticFeasibility:
    """Per node (table row): 0 when feasible, else the 1-based index of the first failing check.

    `stage[row]` is 1 when a job-level check failed and 2 for a group-level one (the feasibility
    wrapper tracks computed-class eligibility separately for the two). `reasons[i - 1]` is the
    metric string of check i.
    """

    fail: npt.NDArray[np.int16]
    stage: npt.NDArray[np.int8]
    reasons: list[str]
    all_feasible: bool


def _group_checks(job: Job, tg: TaskGroup) -> list[Check]:
    """Nomad's checker order: job constraints; then drivers, group+task constraints, devices, secrets.

    The last item is the check's metric reason, or the constraint whose string it is.
    """
    checks: list[Check] = [
        (1, "c", (c.l_target, c.operand, c.r_target), c) for c in job.constraints
    ]
    drivers = tuple(sorted({t.driver for t in tg.tasks}))
    if drivers:
        checks.append((2, "d", drivers, FILTER_DRIVERS))
    checks += [(2, "c", (c.l_target, c.operand, c.r_target), c) for c in tg.constraints]
    for t in tg.tasks:
        checks += [(2, "c", (c.l_target, c.operand, c.r_target), c) for c in t.constraints]
    devices = group_devices_key(tg)
    if devices:
        checks.append((2, "x", (devices,), FILTER_DEVICES))
    secrets = tuple(sorted({s.get("Provider", "") for t in tg.tasks for s in t.extra.get("Secrets") or []}))
    if secrets:
        checks.append((2, "s", secrets, FILTER_SECRETS))
    return checks


def _check_mask(cache: FeasibilityCache, table: NodeTable, kind: str, args: CheckArgs) -> Mask:
    if kind == "c":
        return cache.constraint_mask(table, *args)
    if kind == "d":
        masks = [cache.driver_mask(table, d) for d in args]
        if not masks:
            return np.ones(len(table), dtype=bool)
        drivers: Mask = np.logical_and.reduce(masks)
        return drivers
    if kind == "s":
        masks = [table.column(f"${{attr.plugins.secrets.{p}.version}}")[1] for p in args]
        secrets: Mask = np.logical_and.reduce(masks)
        return secrets
    return device_mask(table, devices_of_key(args[0]))  # "x": Nomad's DeviceChecker


def _static_feasibility(
    cache: FeasibilityCache, table: NodeTable, checks: list[Check]
) -> StaticFeasibility:
    fail = np.zeros(len(table), dtype=np.int16)
    stage = np.zeros(len(table), dtype=np.int8)
    for i, (check_stage, kind, args, _) in enumerate(checks, start=1):
        newly = (fail == 0) & ~_check_mask(cache, table, kind, args)
        fail[newly] = i
        stage[newly] = check_stage
    reasons = [reason if isinstance(reason, str) else str(reason) for _, _, _, reason in checks]
    return StaticFeasibility(fail, stage, reasons, not fail.any())


# -- the candidate node set ---------------------------------------------------------------------


def candidate_rows(table: NodeTable, job: Job) -> tuple[npt.NDArray[np.intp], dict[str, int], int]:
    """Ready nodes in the job's datacenters and node pool; NodesAvailable per DC; NodesInPool.

    Nomad: scheduler/util.go, readyNodesInDCsAndPool (pool "all" or "" means every pool). The rows
    are memoised per datacenters and pool until the table's version moves (read-only array).
    """
    if len(table) == 0:
        return np.zeros(0, dtype=np.int64), {}, 0
    rows, by_dc = FeasibilityCache.of_table(table).candidates(table, job)
    return rows, dict(by_dc), len(rows)


def _candidate_rows(table: NodeTable, job: Job) -> tuple[npt.NDArray[np.intp], dict[str, int]]:
    dc_codes, dc_labels = table.codes("datacenter")
    dc_ok = np.array([any(glob_match(p, dc) for p in job.datacenters) for dc in dc_labels], dtype=bool)
    mask = table.ready & dc_ok[dc_codes]
    if job.node_pool not in (NODE_POOL_ALL, ""):
        pool_codes, pool_labels = table.codes("node_pool")
        mask &= np.array([p == job.node_pool for p in pool_labels], dtype=bool)[pool_codes]
    rows = np.flatnonzero(mask)
    rows.flags.writeable = False
    counts = np.bincount(dc_codes[rows], minlength=len(dc_labels))
    by_dc = {dc: int(c) for dc, c in zip(dc_labels, counts.tolist(), strict=True) if c}
    return rows, by_dc
