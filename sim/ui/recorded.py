"""The page's data from a finished run's results folder, at any instant of the recorded span.

Read-only (`nomadsim view RESULTS_DIR`). The tables are event logs, so the state at `at` is
rebuilt from them: each allocation's last transition at or before `at`, each node's last usage
sample and node event, each deployment's last status change, the evals created by then. What the
tables do not hold is left out or derived (documented in README, "Web view"): allocation names,
job versions' contents; a job's status comes from its allocations at `at`, its version from its deployments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ApiError, SimError
from sim.results.folder import read_results
from sim.ui import rows as R
from sim.ui.series import latency_by_sample, series

NEEDED = ("nodes", "node_usage", "allocations", "jobs", "evaluations", "deployments", "deployment_events", "cluster",
          "node_events")
TERMINAL = {"complete", "failed", "lost"}


def _last_before(frame: pd.DataFrame, at: float, key: str, time: str = "time") -> pd.DataFrame:
    """Each `key`'s last row with `time` <= at (the frames are in time order)."""
    return frame[frame[time] <= at].drop_duplicates(key, keep="last")


def _num(value: Any) -> Any:
    """A table value as JSON: NaN and NA as null, numpy scalars as Python ones."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if isinstance(value, np.generic) else value


class RecordedSource:
    """Reads of one results folder for the page, at a chosen simulated instant."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "nodes.parquet").exists():
            raise SimError(f"{folder}: not a results folder (no nodes.parquet; run `nomadsim run` first)")
        tables = read_results(folder)
        missing = [t for t in NEEDED if t not in tables]
        if missing:
            raise SimError(f"{folder}: missing table(s) {', '.join(missing)}")
        self.t = tables
        scenario = folder / "scenario.json"
        self.name = json.loads(scenario.read_text()).get("name", folder.name) if scenario.exists() else folder.name
        run = folder / "run.json"
        until = json.loads(run.read_text()).get("until") if run.exists() else None
        self.end = float(until if until is not None else tables["cluster"]["time"].max())
        usage = tables["node_usage"].sort_values("time", kind="stable")
        self.usage = usage
        self.sample_times = np.unique(usage["time"].to_numpy(float))
        self.sample_start = np.searchsorted(usage["time"].to_numpy(float), self.sample_times, side="left")
        self.node_names = dict(zip(tables["nodes"]["node_id"], tables["nodes"]["name"], strict=True))

    def at_of(self, text: str | None) -> float:
        """`?at=` seconds within the recorded span (default: its end)."""
        if text is None or text == "":
            return self.end
        try:
            at = float(text)
        except ValueError:
            raise ApiError(400, f"at must be a number of seconds, got {text!r}") from None
        if not 0 <= at <= self.end:
            raise ApiError(400, f"at must be within the recorded span 0..{self.end:g} s, got {text}")
        return at

    def status(self) -> dict[str, Any]:
        return {"Name": self.name, "Time": self.end, "ReadOnly": True, "Start": 0.0, "End": self.end,
                "Nodes": len(self.t["nodes"])}

    # -- nodes --------------------------------------------------------------------------------

    def nodes(self, at: float, have: str | None = None) -> dict[str, Any]:
        """Every node at `at` (usage from the last sample at or before it), as LiveSource.nodes."""
        nodes = self.t["nodes"]
        ids = nodes["node_id"].tolist()
        i = int(np.searchsorted(self.sample_times, at, side="right")) - 1
        cols = ["cpu_allocated", "cpu_capacity", "memory_allocated", "memory_capacity"]
        if i >= 0:
            stop = self.sample_start[i + 1] if i + 1 < len(self.sample_start) else len(self.usage)
            sample = self.usage.iloc[self.sample_start[i]:stop].set_index("node_id").reindex(ids)
            values = sample[cols].fillna(0.0).to_numpy(float)
            status = sample["status"].fillna("initializing").tolist()
        else:
            values, status = np.zeros((len(ids), 4)), ["initializing"] * len(ids)
        drains = _last_before(self.t["node_events"], at, "node_id")
        draining = set(drains.loc[drains["event"] == "drain", "node_id"])
        states = [("draining" if s == "ready" and n in draining else s) for n, s in zip(ids, status, strict=True)]
        last = self.usage.drop_duplicates("node_id", keep="last").set_index("node_id").reindex(ids)

        def static() -> dict[str, list[Any]]:
            return {"ID": ids, "Name": nodes["name"].tolist(), "Datacenter": nodes["datacenter"].tolist(),
                    "NodePool": nodes["node_pool"].tolist(), "NodeClass": nodes["node_class"].tolist(),
                    "CpuTotal": last["cpu_capacity"].fillna(0).round().tolist(),
                    "MemoryTotal": last["memory_capacity"].fillna(0).round().tolist()}
        return R.nodes_answer(static, str(len(ids)), states, values[:, 0], values[:, 2], have)

    def node(self, node_id: str, at: float) -> dict[str, Any]:
        if node_id not in self.node_names:
            raise ApiError(404, "node not found")
        nodes = self.nodes(at)
        i = nodes["ID"].index(node_id)
        rows = [r for r in self._alloc_rows(at) if r[4] == node_id]
        return {"ID": node_id, "Name": nodes["Name"][i], "Datacenter": nodes["Datacenter"][i],
                "NodePool": nodes["NodePool"][i], "NodeClass": nodes["NodeClass"][i],
                "State": nodes["States"][nodes["State"][i]],
                "Allocations": {"Columns": list(R.COLUMNS["allocations"]), "Rows": [list(r) for r in rows]}}

    # -- tables -------------------------------------------------------------------------------

    def table(self, name: str, query: Mapping[str, str], at: float) -> dict[str, Any]:
        return R.page(name, getattr(self, f"_{name}")(at), query, R.tuple_getters(name))

    @lru_cache(maxsize=8)  # noqa: B019 (one source per served folder; the cache is the point)
    def _alloc_rows(self, at: float) -> list[tuple]:
        last = _last_before(self.t["allocations"], at, "alloc_id")
        first = self.t["allocations"].drop_duplicates("alloc_id", keep="first").set_index("alloc_id")["time"]
        return [(a, "", j, g, n, self.node_names.get(n, ""), c, d, None, round(float(t), 3))
                for a, j, g, n, c, d, t in zip(last["alloc_id"], last["job_id"], last["task_group"], last["node_id"],
                                               last["client_status"], last["desired_status"], last["time"], strict=True)
                if first[a] <= at]

    def _allocations(self, at: float) -> list[tuple]:
        return self._alloc_rows(at)

    def _jobs(self, at: float) -> list[tuple]:
        jobs = self.t["jobs"]
        jobs = jobs[jobs["submit"] <= at]
        deps = self.t["deployments"]
        version = deps[deps["start"] <= at].groupby("job_id")["job_version"].max().to_dict()
        counts: dict[str, dict[str, int]] = {}
        for r in self._alloc_rows(at):
            c = counts.setdefault(r[2], {"running": 0, "failed": 0, "live": 0})
            c["running"] += r[6] == "running"
            c["failed"] += r[6] == "failed"
            c["live"] += r[6] not in TERMINAL
        out = []
        for row in jobs.itertuples(index=False):
            c = counts.get(row.job_id, {"running": 0, "failed": 0, "live": 0})
            done = _num(row.completed)
            status = "running" if c["live"] else ("dead" if done is not None and done <= at else "pending")
            out.append((row.job_id, row.type, int(row.priority), status, float(row.submit),
                         int(version.get(row.job_id, row.versions - 1)),
                        c["running"], None, c["failed"]))
        return out

    def _evaluations(self, at: float) -> list[tuple]:
        ev = self.t["evaluations"]
        ev = ev[ev["created"] <= at]
        return [(e.eval_id, e.job_id, e.type, e.triggered_by, int(e.priority),
                 e.status if _num(e.completed) is not None and e.completed <= at else "pending", float(e.created),
                 _num(e.latency) if _num(e.completed) is not None and e.completed <= at else None)
                for e in ev.itertuples(index=False)]

    def _deployments(self, at: float) -> list[tuple]:
        deps = self.t["deployments"]
        deps = deps[deps["start"] <= at]
        last = _last_before(self.t["deployment_events"], at, "deployment_id").set_index("deployment_id")
        out = []
        for dep_id, g in deps.groupby("deployment_id", sort=False):
            first = g.iloc[0]
            status, desc = (last.loc[dep_id, "status"], last.loc[dep_id, "description"]) if dep_id in last.index \
                else ("running", "Deployment is running")
            canaries = int(g["desired_canaries"].sum())
            out.append((dep_id, first.job_id, int(first.job_version), status, desc,
                        f"{int(g['placed_canaries'].sum())}/{canaries}",
                        f"{int(g['healthy_allocs'].sum())}/{int(g['desired_total'].sum())}",
                        bool(g["promoted"].all()) if canaries else None, float(first.start)))
        return sorted(out, key=lambda r: r[-1])

    def job(self, job_id: str, at: float) -> dict[str, Any]:
        jobs = [r for r in self._jobs(at) if r[0] == job_id]
        if not jobs:
            raise ApiError(404, "job not found")
        row = jobs[0]
        allocs = [r for r in self._alloc_rows(at) if r[2] == job_id]
        groups: dict[str, dict[str, int]] = {}
        keys = {"pending": "Starting", "running": "Running", "complete": "Complete", "failed": "Failed", "lost": "Lost"}
        for r in allocs:
            g = groups.setdefault(r[3], dict.fromkeys(("Queued", "Starting", "Running", "Complete", "Failed", "Lost"), 0))
            if r[6] in keys:
                g[keys[r[6]]] += 1
        events = self.t["deployment_events"]
        events = events[(events["job_id"] == job_id) & (events["time"] <= at)]
        return {"ID": job_id, "Type": row[1], "Status": row[3], "Priority": row[2], "Version": row[5], "Stop": None,
                "Versions": [{"Version": v, "Stable": None, "SubmitTime": None, "Groups": {}} for v in range(row[5], -1, -1)],
                "Summary": dict(sorted(groups.items())), "TaskGroups": sorted(groups),
                "Allocations": {"Columns": list(R.COLUMNS["allocations"]), "Rows": [list(r) for r in allocs]},
                "Deployments": {"Columns": list(R.COLUMNS["deployments"]),
                                "Rows": [list(r) for r in self._deployments(at) if r[1] == job_id]},
                "Timeline": [{"Time": float(e.time), "DeploymentID": e.deployment_id, "JobVersion": int(e.job_version),
                              "Status": e.status, "Description": e.description} for e in events.itertuples(index=False)]}

    def series(self, since: float, at: float) -> dict[str, Any]:
        c = self.t["cluster"]
        c = c[c["time"] <= at]
        ev = self.t["evaluations"]
        times = c["time"].to_numpy(float)
        mean, peak = latency_by_sample(times, ev["completed"].to_numpy(float), ev["latency"].to_numpy(float))
        return series({"Time": times, "CpuUtilisation": c["cpu_utilisation"].to_numpy(float),
                       "MemoryUtilisation": c["memory_utilisation"].to_numpy(float),
                       "PendingEvals": c["pending_evals"].to_numpy(float), "BlockedEvals": c["blocked_evals"].to_numpy(float),
                       "LatencyMean": mean, "LatencyMax": peak}, since)
