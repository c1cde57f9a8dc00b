"""The page's charts: cluster utilisation, queued and blocked evals, placement latency per sample.

Both sources hand over plain arrays (sample times and counters, eval completion times and
latencies); `series` cuts them at `since` so a chart only receives its new points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.errors import ApiError

SERIES = ("Time", "CpuUtilisation", "MemoryUtilisation", "PendingEvals", "BlockedEvals", "LatencyMean",
          "LatencyMax")


def latency_by_sample(times: np.ndarray, completed: np.ndarray, latency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and max latency of the evals completed in each sample interval (t_{i-1}, t_i] (NaN if none)."""
    ok = ~np.isnan(completed) & ~np.isnan(latency)
    completed, latency = completed[ok], latency[ok]
    bucket = np.searchsorted(times, completed, side="left")
    inside = bucket < len(times)
    bucket, latency = bucket[inside], latency[inside]
    count = np.bincount(bucket, minlength=len(times))
    total = np.bincount(bucket, weights=latency, minlength=len(times))
    peak = np.full(len(times), -np.inf)
    np.maximum.at(peak, bucket, latency)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, np.where(count > 0, peak, np.nan)


def series(columns: dict[str, np.ndarray], since: float) -> dict[str, Any]:
    """The points after `since`, one list per SERIES name (NaN as null)."""
    keep = columns["Time"] > since
    out: dict[str, Any] = {}
    for name in SERIES:
        values = np.asarray(columns[name], dtype=float)[keep]
        out[name] = [None if v != v else round(float(v), 6) for v in values]
    return out


def since_of(text: str | None) -> float:
    """`?since=` seconds (default: every point)."""
    try:
        return float(text) if text else -1.0
    except ValueError:
        raise ApiError(400, f"since must be a number of seconds, got {text!r}") from None
