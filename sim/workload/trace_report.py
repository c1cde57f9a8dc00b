"""What a trace replay tells the user when it loads: asks rounded up, jobs that can never place.

A pod of the openb trace that asks for a fraction of a GPU (0 < gpu_milli < 1000) asks for one
whole device, since Nomad cannot share a device instance; a trace job whose ask no node of the
cluster could ever hold (CPU, memory, or GPUs from one device group) stays blocked for ever. Both
are counted when the trace loads and written to the `trace_reports` table, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.scenario.traces import TraceSubmission
from sim.state.node_table import NodeTable
from sim.structs.devices import id_matches

TRACE_GPU_ASK = ("nvidia", "gpu", "")  # what a trace job's GPUs ask for: any nvidia/gpu
REPORTED_IDS = 20  # job IDs listed in the report's text


@dataclass(frozen=True, slots=True)
class TraceReport:
    """The load-time report of one trace."""

    submissions: int
    fractional_gpu: int  # pods whose fraction of a GPU became one whole device
    never_placeable: tuple[str, ...]  # trace job IDs no node could ever hold

    def ids_text(self) -> str:
        """The first REPORTED_IDS never-placeable job IDs, comma separated ("..." when more)."""
        ids = list(self.never_placeable[:REPORTED_IDS]) + (["..."] if len(self.never_placeable) > REPORTED_IDS else [])
        return ",".join(ids)


def trace_report(subs: list[TraceSubmission], table: NodeTable) -> TraceReport:
    """Count the fractional-GPU pods and the jobs whose ask exceeds every node (ignoring usage)."""
    fractional = sum(1 for s in subs if s.gpus == 1 and 0 < _gpu_milli(s) < 1000)
    cap = table.cap
    gpus = np.array([max((len(d.instance_ids) for d in n.resources.devices if id_matches(d.id_tuple(), TRACE_GPU_ASK)),
                         default=0) for n in table.nodes], dtype=np.int64)
    verdicts: dict[tuple[int, int, int], bool] = {}
    never = []
    for s in subs:
        key = (s.cpu, s.memory, s.gpus)
        fits = verdicts.get(key)
        if fits is None:
            fits = verdicts[key] = bool(((cap[:, 0] >= s.cpu) & (cap[:, 1] >= s.memory) & (gpus >= s.gpus)).any())
        if not fits:
            never.append(s.job_id)
    return TraceReport(len(subs), fractional, tuple(never))


def _gpu_milli(sub: TraceSubmission) -> int:
    value = dict(sub.meta).get("gpu_milli", "0")
    return int(value) if value.isdigit() else 0
