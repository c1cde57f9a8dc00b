"""Feasibility: which nodes may run a task group, as boolean masks over the node table.

Owns Nomad's constraint operators (checkConstraint and friends, with Go's parsing rules), the
vectorised evaluation of a constraint over every node (each operator runs once per distinct
attribute value, then maps back), a group's static feasibility (per node, the first check that
fails in Nomad's checker order), and the candidate node set of a job. Dynamic checks that depend
on the plan (distinct_hosts, distinct_property, resources, ports) live in the stack's scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sim.errors import SimError
from sim.scheduler.util import glob_match
from sim.state.node_table import NodeTable
from sim.structs.job import Constraint, Job, TaskGroup
from sim.structs.node import Node

CONSTRAINT_DISTINCT_HOSTS = "distinct_hosts"
CONSTRAINT_DISTINCT_PROPERTY = "distinct_property"
FILTER_DRIVERS = "missing drivers"
FILTER_DEVICES = "missing devices"
FILTER_SECRETS = "missing secrets provider"
FILTER_CLASS_INELIGIBLE = "computed class ineligible"
NODE_POOL_ALL = "all"

_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_NODE_FIELDS = {
    "${node.unique.id}": "id",
    "${node.datacenter}": "datacenter",
    "${node.unique.name}": "name",
    "${node.class}": "node_class",
    "${node.pool}": "node_pool",
}
_ESCAPING = ("${unique.", "${node.unique.", "${attr.unique.", "${meta.unique.")


# -- Go parsing ---------------------------------------------------------------------------------


def go_parse_bool(value: str) -> bool | None:
    """Go strconv.ParseBool; None when the string is not a boolean."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return None


def _go_int(value: str) -> int | None:
    if not _INT_RE.fullmatch(value):
        return None
    number = int(value)
    return number if _INT64[0] <= number <= _INT64[1] else None


def _go_float(value: str) -> float | None:
    if not value or value != value.strip() or "_" in value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


# -- operators ----------------------------------------------------------------------------------


def resolve_target(target: str, node: Node) -> tuple[str, bool]:
    """Nomad: scheduler/feasible/feasible.go, resolveTarget: a literal or a node property."""
    if not target.startswith("${"):
        return target, True
    if target in _NODE_FIELDS:
        return getattr(node, _NODE_FIELDS[target]), True
    if target.startswith("${attr.") or target.startswith("${meta."):
        source = node.attributes if target.startswith("${attr.") else node.meta
        value = source.get(target[7:].removesuffix("}"))
        return ("", False) if value is None else (value, True)
    return "", False


def check_constraint(operand: str, l_val: str | None, r_val: str | None, l_found: bool, r_found: bool) -> bool:
    """Nomad: scheduler/feasible/feasible.go, checkConstraint."""
    if operand in (CONSTRAINT_DISTINCT_HOSTS, CONSTRAINT_DISTINCT_PROPERTY):
        return True
    if operand in ("=", "==", "is"):
        return l_found and r_found and l_val == r_val
    if operand in ("!=", "not"):
        return l_val != r_val
    if operand == "is_set":
        return l_found
    if operand == "is_not_set":
        return not l_found
    if not (l_found and r_found and isinstance(l_val, str) and isinstance(r_val, str)):
        return False
    return _check_binary(operand, l_val, r_val)


def _check_binary(operand: str, l_val: str, r_val: str) -> bool:
    if operand in ("<", "<=", ">", ">="):
        return check_order(operand, l_val, r_val)
    if operand in ("version", "semver"):
        return check_version_match(l_val, r_val, strict_semver=operand == "semver")
    if operand == "regexp":
        return check_regexp_match(l_val, r_val)
    if operand in ("set_contains", "set_contains_all"):
        return check_set_contains_all(l_val, r_val)
    if operand == "set_contains_any":
        return check_set_contains_any(l_val, r_val)
    return False


def check_order(operand: str, l_val: str, r_val: str) -> bool:
    """Nomad: checkOrder: as int64 if both parse, else as float64, else lexically."""
    left_i, right_i = _go_int(l_val), _go_int(r_val)
    if left_i is not None and right_i is not None:
        return _compare(operand, left_i, right_i)
    left_f, right_f = _go_float(l_val), _go_float(r_val)
    if left_f is not None and right_f is not None:
        return _compare(operand, left_f, right_f)
    return check_lexical_order(operand, l_val, r_val)


def check_lexical_order(operand: str, l_val: str, r_val: str) -> bool:
    """Nomad: checkLexicalOrder (Go compares strings bytewise)."""
    return _compare(operand, l_val.encode(), r_val.encode())


def _compare(operand: str, left, right) -> bool:  # noqa: ANN001 - ints, floats or bytes
    """Go's compareOrder; NaN compares false both ways, as in Go."""
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}.get(operand, False)


def check_version_match(version: str, constraint: str, strict_semver: bool) -> bool:
    """Nomad: checkVersionMatch (go-version, or strict semver); unparsable sides never match."""
    from sim.structs.versions import version_matches  # written by another module; imported lazily

    try:
        return bool(version_matches(constraint, version, strict_semver))
    except (ValueError, SimError):
        return False


def check_regexp_match(value: str, pattern: str) -> bool:
    """Nomad: checkRegexpMatch: unanchored search; an invalid pattern never matches."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def _split_set(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def check_set_contains_all(l_val: str, r_val: str) -> bool:
    """Nomad: checkSetContainsAll: every right item is in the left set."""
    left = set(_split_set(l_val))
    return all(item in left for item in _split_set(r_val))


def check_set_contains_any(l_val: str, r_val: str) -> bool:
    """Nomad: checkSetContainsAny: some right item is in the left set."""
    left = set(_split_set(l_val))
    return any(item in left for item in _split_set(r_val))


def escapes(constraints: list[Constraint]) -> bool:
    """Nomad: structs.EscapedConstraints non-empty: a target computed classes cannot capture."""
    return any(t.startswith(_ESCAPING) for c in constraints for t in (c.l_target, c.r_target))


def distinct_hosts_enabled(constraints: list[Constraint]) -> bool:
    """Nomad: DistinctHostsIterator.hasDistinctHostsConstraint (first one decides; default on)."""
    for c in constraints:
        if c.operand == CONSTRAINT_DISTINCT_HOSTS:
            return c.r_target == "" or go_parse_bool(c.r_target) is not False
    return False


# -- vectorised evaluation ----------------------------------------------------------------------


class FeasibilityCache:
    """Memo of attribute columns, constraint masks and group verdicts, valid for one table version.

    One cache may serve every evaluation of a simulation (pass it to the stacks): everything in
    it depends only on node properties and is dropped when the table's version changes.
    """

    def __init__(self) -> None:
        self._version = -1
        self._factors: dict[str, tuple[np.ndarray, list[str | None]]] = {}
        self._masks: dict[tuple, np.ndarray] = {}
        self._groups: dict[tuple, StaticFeasibility] = {}
        self._candidates: dict[tuple, tuple[np.ndarray, dict[str, int]]] = {}

    @staticmethod
    def of_table(table: NodeTable) -> FeasibilityCache:
        """The cache that travels with a node table, so every evaluation of a simulation shares
        it (it holds only node-derived data and resets itself when the table's version moves)."""
        cache = getattr(table, "_feasibility_cache", None)
        if cache is None:
            cache = FeasibilityCache()
            table._feasibility_cache = cache
        return cache

    def sync(self, table: NodeTable) -> None:
        """Forget everything when the table changed since the last use."""
        if table.version != self._version:
            self._version = table.version
            self._factors.clear()
            self._masks.clear()
            self._groups.clear()
            self._candidates.clear()

    def factor(self, table: NodeTable, target: str) -> tuple[np.ndarray, list[str | None]]:
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

    def constraint_mask(self, table: NodeTable, l_target: str, operand: str, r_target: str) -> np.ndarray:
        """Which nodes satisfy one constraint (or affinity), evaluated once per distinct value pair."""
        self.sync(table)
        key = ("c", l_target, operand, r_target)
        mask = self._masks.get(key)
        if mask is None:
            mask = self._evaluate(table, l_target, operand, r_target)
            self._masks[key] = mask
        return mask

    def _evaluate(self, table: NodeTable, l_target: str, operand: str, r_target: str) -> np.ndarray:
        l_codes, l_labels = self._side(table, l_target)
        r_codes, r_labels = self._side(table, r_target)
        pairs = l_codes.astype(np.int64) * len(r_labels) + r_codes
        uniq, inverse = np.unique(pairs, return_inverse=True)
        verdicts = np.empty(len(uniq), dtype=bool)
        for i, pair in enumerate(uniq.tolist()):
            lv, rv = l_labels[pair // len(r_labels)], r_labels[pair % len(r_labels)]
            verdicts[i] = check_constraint(operand, lv or "", rv or "", lv is not None, rv is not None)
        return verdicts[inverse.reshape(-1)]

    def _side(self, table: NodeTable, target: str) -> tuple[np.ndarray, list[str | None]]:
        if not target.startswith("${"):
            return np.zeros(len(table), dtype=np.int32), [target]
        return self.factor(table, target)

    def driver_mask(self, table: NodeTable, driver: str) -> np.ndarray:
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

    def dynamic_span(self, table: NodeTable) -> np.ndarray:
        """Per node, how many ports its dynamic range holds."""
        self.sync(table)
        span = self._masks.get(("span",))
        if span is None:
            span = np.fromiter((n.max_dynamic_port - n.min_dynamic_port + 1 for n in table.nodes), np.int64, len(table))
            self._masks[("span",)] = span
        return span

    def candidates(self, table: NodeTable, job: Job) -> tuple[np.ndarray, dict[str, int]]:
        """`candidate_rows` memoised per (datacenters, node pool): the rows and the ready count per DC."""
        self.sync(table)
        key = (tuple(job.datacenters), job.node_pool)
        cached = self._candidates.get(key)
        if cached is None:
            cached = self._candidates[key] = _candidate_rows(table, job)
        return cached

    def available(self, table: NodeTable, rows: np.ndarray) -> dict[str, int] | None:
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

    fail: np.ndarray
    stage: np.ndarray
    reasons: list[str]
    all_feasible: bool


def _group_checks(job: Job, tg: TaskGroup) -> list[tuple[int, str, tuple, str | Constraint]]:
    """Nomad's checker order: job constraints; then drivers, group+task constraints, devices, secrets.

    The last item is the check's metric reason, or the constraint whose string it is.
    """
    checks: list[tuple[int, str, tuple, str | Constraint]] = [
        (1, "c", (c.l_target, c.operand, c.r_target), c) for c in job.constraints
    ]
    drivers = tuple(sorted({t.driver for t in tg.tasks}))
    if drivers:
        checks.append((2, "d", drivers, FILTER_DRIVERS))
    checks += [(2, "c", (c.l_target, c.operand, c.r_target), c) for c in tg.constraints]
    for t in tg.tasks:
        checks += [(2, "c", (c.l_target, c.operand, c.r_target), c) for c in t.constraints]
    if any(t.resources is not None and t.resources.extra.get("Devices") for t in tg.tasks):
        checks.append((2, "x", (), FILTER_DEVICES))
    secrets = tuple(sorted({s.get("Provider", "") for t in tg.tasks for s in t.extra.get("Secrets") or []}))
    if secrets:
        checks.append((2, "s", secrets, FILTER_SECRETS))
    return checks


def _check_mask(cache: FeasibilityCache, table: NodeTable, kind: str, args: tuple) -> np.ndarray:
    if kind == "c":
        return cache.constraint_mask(table, *args)
    if kind == "d":
        masks = [cache.driver_mask(table, d) for d in args]
        return np.logical_and.reduce(masks) if masks else np.ones(len(table), dtype=bool)
    if kind == "s":
        masks = [table.column(f"${{attr.plugins.secrets.{p}.version}}")[1] for p in args]
        return np.logical_and.reduce(masks)
    return np.zeros(len(table), dtype=bool)  # devices: the simulated nodes have none


def _static_feasibility(
    cache: FeasibilityCache, table: NodeTable, checks: list[tuple[int, str, tuple, str | Constraint]]
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


def candidate_rows(table: NodeTable, job: Job) -> tuple[np.ndarray, dict[str, int], int]:
    """Ready nodes in the job's datacenters and node pool; NodesAvailable per DC; NodesInPool.

    Nomad: scheduler/util.go, readyNodesInDCsAndPool (pool "all" or "" means every pool). The rows
    are memoised per datacenters and pool until the table's version moves (read-only array).
    """
    if len(table) == 0:
        return np.zeros(0, dtype=np.int64), {}, 0
    rows, by_dc = FeasibilityCache.of_table(table).candidates(table, job)
    return rows, dict(by_dc), len(rows)


def _candidate_rows(table: NodeTable, job: Job) -> tuple[np.ndarray, dict[str, int]]:
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
