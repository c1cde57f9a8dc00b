"""Units of every number nomadsim reports, and the one way numbers are printed.

A KPI (sim.results.kpis.KPIS) and a table column (`column_unit`) each have one unit of `UNITS`.
A value in "count" is an integer in summary.json; every other unit is a float. `format_value`
prints a number the same way everywhere (run/show/sweep tables): counts with thousands separators,
other values with four significant digits and never in exponent notation.
"""

from __future__ import annotations

import math
from typing import Any

UNITS: dict[str, str] = {
    "s": "simulated seconds",
    "fraction": "a share between 0 and 1",
    "ratio": "a dimensionless ratio (1 = even, or no slowdown)",
    "count": "an integer number of things",
    "nodes": "a (mean) number of nodes",
    "MHz": "CPU shares",
    "MB": "megabytes",
    "CPU-s": "CPU-seconds (1,000 MHz for one second)",
    "node-h": "node-hours (nodes registered x hours)",
    "": "no unit (identifiers, statuses, flags)",
}

# numeric column name -> unit, across every results table (a column not listed: int64 is a count)
COLUMN_UNITS: dict[str, str] = {
    **dict.fromkeys(("time", "created", "ready", "dequeued", "plan_submitted", "plan_applied", "completed",
                     "wait_in_broker", "scheduling_time", "latency", "submit", "first_placement", "all_started",
                     "makespan", "runtime", "launch", "duration", "start", "end", "dag_makespan",
                     "critical_path_length", "wait", "wait_p50", "wait_p95", "wait_p99", "ran_seconds"), "s"),
    "cpu_seconds_lost": "CPU-s",
    **dict.fromkeys(("cpu", "cpu_allocated", "cpu_used", "cpu_capacity", "cpu_free", "typical_cpu"), "MHz"),
    **dict.fromkeys(("memory", "disk", "memory_allocated", "memory_used", "memory_capacity", "disk_allocated",
                     "disk_used", "disk_capacity", "memory_free", "typical_memory"), "MB"),
    **dict.fromkeys(("cpu_utilisation", "memory_utilisation", "cpu_used_utilisation", "cpu_fragmentation",
                     "memory_fragmentation", "gpu_allocation_rate", "gpu_fragmentation"), "fraction"),
    **dict.fromkeys(("score",), "ratio"),
    **dict.fromkeys(("slowdown", "bounded_slowdown"), "ratio"),
}


def column_unit(column: str, dtype: str) -> str:
    """The unit of a results column: its COLUMN_UNITS entry, else count for integers, else none."""
    if column in COLUMN_UNITS:
        return COLUMN_UNITS[column]
    if dtype.startswith(("int", "Int", "uint")):
        return "count"
    if dtype.startswith("float"):
        raise KeyError(f"column {column!r} ({dtype}) has no unit: add it to sim.results.units.COLUMN_UNITS")
    return ""


def typed(value: Any, unit: str) -> Any:
    """A KPI value as summary.json stores it: an int for a finite count, None for NaN, else a float."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return int(value) if unit == "count" else float(value)


def format_value(value: Any, unit: str = "") -> str:
    """One number for a printed table: '-' when missing; counts as 1,234; others as 4 significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit == "count":
        return f"{int(value):,}"
    value = float(value)
    if value == 0:
        return "0"
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"
