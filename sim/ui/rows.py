"""Tables as the page shows them: fixed columns, filters, a page of rows, status counts.

Both sources (`live`, `recorded`) produce plain row tuples in the column order below; `page`
applies the page's filters so that the browser never receives more than one page of a 50,000-row
table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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


def page(table: str, rows: Iterable[Sequence[Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of `rows` after the query's filters, newest first, with counts by status."""
    check_params(table, query)
    columns = COLUMNS[table]
    exact = [(columns.index(col), query[key]) for key, col in FILTERS[table].items() if query.get(key)]
    status_at = columns.index(STATUS_COLUMN[table])
    needle = query.get("q", "").lower()
    texts = [i for i, c in enumerate(columns) if c in ("ID", "Name", "JobID", "NodeName", "TaskGroup")]
    kept = []
    counts: Counter[str] = Counter()
    for row in rows:
        if any(row[i] != want for i, want in exact if columns[i] != STATUS_COLUMN[table]):
            continue
        if needle and not any(needle in str(row[i]).lower() for i in texts):
            continue
        counts[row[status_at]] += 1
        if any(row[i] != want for i, want in exact if columns[i] == STATUS_COLUMN[table]):
            continue
        kept.append(row)
    limit = limit_of(query)
    return {"Columns": list(columns), "Total": len(kept), "Counts": dict(sorted(counts.items())),
            "Rows": [list(r) for r in kept[::-1][:limit]]}
