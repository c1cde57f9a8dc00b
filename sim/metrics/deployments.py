"""The `deployments` results table: one row per deployment and task group, with its final counters.

Built at the end of a run from the state store: the deployments (Nomad's DeploymentState counters)
and `state.deployment_log`, the (time, id, job, version, status, description) rows of every status
change, which give each deployment its end (its first terminal status) and duration. The log
itself is the `deployment_events` table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim.structs.consts import DEPLOYMENT_ACTIVE

# column -> (dtype, meaning)
DEPLOYMENTS_SCHEMA: list[tuple[str, str, str]] = [
    ("deployment_id", "string", "deployment"),
    ("job_id", "string", "job ID"),
    ("job_version", "int64", "job version the deployment rolls out"),
    ("task_group", "string", "task group"),
    ("status", "string", "final status"),
    ("status_description", "string", "final Nomad status description"),
    ("desired_total", "int64", "DesiredTotal"),
    ("desired_canaries", "int64", "DesiredCanaries"),
    ("placed_canaries", "int64", "canaries placed (len(PlacedCanaries))"),
    ("placed_allocs", "int64", "PlacedAllocs"),
    ("healthy_allocs", "int64", "HealthyAllocs"),
    ("unhealthy_allocs", "int64", "UnhealthyAllocs"),
    ("promoted", "bool", "Promoted"),
    ("auto_revert", "bool", "AutoRevert"),
    ("auto_promote", "bool", "AutoPromote"),
    ("start", "float64", "simulated seconds when the deployment was created"),
    ("end", "float64", "when it first became terminal (NaN while active)"),
    ("duration", "float64", "end - start (NaN while active)"),
]


def deployment_end_times(log: list[tuple]) -> dict[str, float]:
    """Each deployment's first terminal status time, from `state.deployment_log` rows."""
    ends: dict[str, float] = {}
    for time, dep_id, _job, _version, status, _desc in log:
        if status not in DEPLOYMENT_ACTIVE and dep_id not in ends:
            ends[dep_id] = float(time)
    return ends


def deployments_table(state: Any) -> pd.DataFrame:
    """One row per deployment (creation order) and task group (sorted), as DEPLOYMENTS_SCHEMA."""
    ends = deployment_end_times(state.deployment_log)
    nan = float("nan")
    rows = []
    for dep in state.deployments():
        end = ends.get(dep.id, nan)
        for name, g in sorted(dep.task_groups.items()):
            rows.append((dep.id, dep.job_id, dep.job_version, name, dep.status, dep.status_description,
                         g.desired_total, g.desired_canaries, len(g.placed_canaries), g.placed_allocs,
                         g.healthy_allocs, g.unhealthy_allocs, g.promoted, g.auto_revert, g.auto_promote,
                         dep.create_time, end, end - dep.create_time))
    frame = pd.DataFrame.from_records(rows, columns=[c for c, _, _ in DEPLOYMENTS_SCHEMA])
    return frame.astype({c: t for c, t, _ in DEPLOYMENTS_SCHEMA})
