"""Tables as the page shows them: fixed columns, filters, a page of rows, status counts.

The sources (`live`, `recorded`) hand over their items with getters of the filtered columns and
a function building a row in the column order below; `page` applies the page's filters so that
the browser never receives more than one page of a 50,000-row table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sim.errors import ApiError

COLUMNS: dict[str, tuple[str, ...]] = {
    "jobs": ("ID", "Type", "Priority", "Status", "SubmitTime", "Version", "Running", "Queued", "Failed"),
    "allocations": ("ID", "Name", "JobID", "TaskGroup", "NodeID", "NodeName", "ClientStatus",
                    "DesiredStatus", "Canary", "ModifyTime"),
    "evaluations": ("ID", "JobID", "Type", "TriggeredBy", "Priority", "Status", "CreateTime", "Latency"),
    "deployments": ("ID", "JobID", "JobVersion", "Status", "StatusDescription", "Canaries", "Healthy",
                    "Promoted", "CreateTime"),
}
# Which column each filter matches exactly, per table ("q" is a substring of the text columns).
FILTERS: dict[str, dict[str, str]] = {
    "jobs": {"status": "Status", "type": "Type"},
    "allocations": {"status": "ClientStatus", "job": "JobID", "node": "NodeID", "group": "TaskGroup"},
    "evaluations": {"status": "Status", "job": "JobID", "type": "TriggeredBy"},
    "deployments": {"status": "Status", "job": "JobID"},
}
STATUS_COLUMN = {"jobs": "Status", "allocations": "ClientStatus", "evaluations": "Status", "deployments": "Status"}
TEXT_COLUMNS = ("ID", "Name", "JobID", "NodeName", "TaskGroup")  # what `q` searches
PARAMS = {"q", "limit", "index", "wait", "at", "namespace"}
MAX_LIMIT = 5000


def limit_of(query: Mapping[str, str]) -> int:
    """`?limit=` (default 200, at most MAX_LIMIT)."""
    text = query.get("limit", "200")
    if not text.isdigit() or not 0 < int(text) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def check_params(table: str, query: Mapping[str, str]) -> None:
    """Refuse a query parameter nothing acts on (a misspelt filter would silently show everything)."""
    unknown = sorted(set(query) - PARAMS - set(FILTERS[table]))
    if unknown:
        raise ApiError(400, f"unknown query parameter {unknown[0]!r} for {table} "
                            f"(filters: {', '.join(sorted(FILTERS[table]))}, q, limit)")


Getters = Mapping[str, Callable[[Any], Any]]


def tuple_getters(table: str) -> dict[str, Callable[[Any], Any]]:
    """Getters of a table's columns when its items already are rows (tuples in column order)."""
    return {c: itemgetter(i) for i, c in enumerate(COLUMNS[table])}


def text_getter(table: str) -> Callable[[Any], str]:
    """What `q` searches in a row: its text columns, joined and lower-cased."""
    pick = itemgetter(*[i for i, c in enumerate(COLUMNS[table]) if c in TEXT_COLUMNS])
    return lambda row: "\n".join(map(str, pick(row))).lower()


def page(table: str, items: Sequence[Any], query: Mapping[str, str], get: Getters,
         row: Callable[[Any], Sequence[Any]] = tuple) -> dict[str, Any]:
    """One page of `items` (oldest first) after the query's filters, newest first, with counts by status.

    `get` reads the filtered columns of an item; `row` turns only the page's items into rows, so a
    50,000-allocation table costs a few passes of attribute reads, not 50,000 rows.
    """
    check_params(table, query)
    limit = limit_of(query)
    status = get[STATUS_COLUMN[table]]
    kept = list(items)
    for key, col in FILTERS[table].items():
        if query.get(key) and col != STATUS_COLUMN[table]:
            want, getter = query[key], get[col]
            kept = [x for x in kept if getter(x) == want]
    needle = query.get("q", "").lower()
    if needle:
        text = get["text"] if "text" in get else text_getter(table)
        kept = [x for x in kept if needle in text(x)]
    counts = Counter(map(status, kept))
    if query.get("status"):
        kept = [x for x in kept if status(x) == query["status"]]
    return {"Columns": list(COLUMNS[table]), "Total": len(kept), "Counts": dict(sorted(counts.items())),
            "Rows": [list(row(x)) for x in reversed(kept[-limit:])]}


def nodes_answer(static: Callable[[], dict[str, list[Any]]], key: str, states: list[str],
                 cpu_used: Any, memory_used: Any, have: str | None) -> dict[str, Any]:
    """The nodes read: states as codes and usage in whole MHz / MB, for every node in row order.

    The static columns (ID, name, datacenter, pool, class, totals) are sent only when the page's
    `?static=` is not `key`, which names the node rows and their properties, so that an update
    that only moves usage stays small.
    """
    names = sorted(set(states))
    code = {name: i for i, name in enumerate(names)}
    out: dict[str, Any] = {"Static": key, "States": names, "State": [code[s] for s in states],
                           "CpuUsed": [round(v) for v in cpu_used], "MemoryUsed": [round(v) for v in memory_used]}
    if have != key:
        out.update(static())
    return out
