"""Readers that turn public cluster traces into Nomad batch job submissions.

Each reader returns `TraceSubmission`s sorted by submit offset: when (seconds after the first
submission), the job in Nomad's JSON form (`Type: batch`, one group, one task) and how long each
allocation runs. Resource requests are converted to Nomad units through a declared `Machine`
(cores, MHz per core, memory in MB), since traces normalise them. Everything is vectorised with
pandas; only the final job dicts are built row by row.

Formats:
  alibaba2017  CloudSimPy's jobs.csv (header: submit_time, duration, cpu cores, memory fraction,
               job_id, task_id, instances_num) or the trace's own headerless batch_task.csv
               (create/modify timestamps, job_id, task_id, instance_num, status, plan_cpu in
               percent of a core, plan_mem as a fraction of the machine). One job per row.
  google2011   task_events (headerless; time in microseconds). One job per job ID with a task
               per submitted task index; runtime from SCHEDULE (else SUBMIT) to FINISH.
  openb        Alibaba openb pod list (header name, cpu_milli, memory_mib, num_gpu, ...). One job
               per pod; runtime from scheduled (else creation) to deletion time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("alibaba2017", "google2011", "openb")
ALIBABA_CLOUDSIM_COLUMNS = ("submit_time", "duration", "cpu", "memory", "job_id", "task_id", "instances_num")
ALIBABA_RAW_COLUMNS = ("create_timestamp", "modify_timestamp", "job_id", "task_id", "instance_num", "status", "plan_cpu", "plan_mem")
GOOGLE_COLUMNS = ("time", "missing", "job_id", "task_index", "machine_id", "event", "user", "sched_class", "priority", "cpu", "memory", "disk", "different_machine")
OPENB_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time", "scheduled_time")
GOOGLE_SUBMIT, GOOGLE_SCHEDULE, GOOGLE_FINISH = 0, 1, 4
GOOGLE_END_OF_TRACE = 2**63 - 1
MIN_CPU, MIN_MEMORY = 1, 10  # Nomad's minimum task resources (structs.Resources.Validate)


@dataclass(frozen=True, slots=True)
class Machine:
    """The machine a trace's normalised requests refer to. CPU cores, MHz per core, memory MB."""

    cpu_cores: float = 64
    memory: int = 131072
    mhz_per_core: int = 2000


@dataclass(frozen=True, slots=True)
class TraceSubmission:
    """One trace job to register `offset` seconds after the trace starts.

    The job is kept compact (a trace holds tens of thousands) and built by `job` on demand as a
    single-task batch job in Nomad's JSON form. `runtime` is how long each allocation runs
    (seconds); `runtimes`, when allocations differ (Google), gives it per alloc index. None means
    the trace never saw the task finish.
    """

    offset: float
    job_id: str
    fmt: str
    count: int
    cpu: int
    memory: int
    runtime: float | None
    runtimes: tuple[float | None, ...] | None = None
    priority: int = 50
    meta: tuple[tuple[str, str], ...] = ()
    gpus: int = 0

    @property
    def job(self) -> dict[str, Any]:
        """The job in Nomad's JSON form (a new dict each time)."""
        resources: dict[str, Any] = {"CPU": self.cpu, "MemoryMB": self.memory}
        if self.gpus:
            resources["Devices"] = [{"Name": "nvidia/gpu", "Count": self.gpus}]
        task = {"Name": "task", "Driver": "docker", "Config": {"image": self.fmt}, "Resources": resources}
        return {
            "ID": self.job_id,
            "Name": self.job_id,
            "Type": "batch",
            "Priority": self.priority,
            "Meta": {"trace": self.fmt, **dict(self.meta)},
            "TaskGroups": [{"Name": "task", "Count": self.count, "Tasks": [task]}],
        }

    def runtime_for(self, index: int) -> float | None:
        """The runtime of the allocation with this index."""
        if self.runtimes is not None and index < len(self.runtimes):
            return self.runtimes[index]
        return self.runtime


def _mhz(cores: np.ndarray, machine: Machine) -> np.ndarray:
    return np.maximum(np.rint(cores * machine.mhz_per_core), MIN_CPU).astype(np.int64)


def _mb(fraction: np.ndarray, machine: Machine) -> np.ndarray:
    return np.maximum(np.rint(fraction * machine.memory), MIN_MEMORY).astype(np.int64)


def _optional(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline().strip()


def check_trace(fmt: str, path: str | Path) -> None:
    """Cheap check that `path` looks like a `fmt` trace (reads one line).

    Raises:
        ValueError: unknown format, or a header that is not the format's.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format {fmt!r}; one of {', '.join(FORMATS)}")
    line = _first_line(Path(path))
    cols = [c.strip() for c in line.split(",")]
    if fmt == "openb" and cols[: len(OPENB_COLUMNS)] != list(OPENB_COLUMNS):
        raise ValueError(f"not an openb pod list: header must start {','.join(OPENB_COLUMNS)}")
    if fmt == "alibaba2017" and not _alibaba_is_cloudsim(cols) and len(cols) != len(ALIBABA_RAW_COLUMNS):
        raise ValueError("not an alibaba2017 batch task file: expected CloudSimPy's header or 8 columns")
    if fmt == "google2011" and len(cols) != len(GOOGLE_COLUMNS):
        raise ValueError(f"not a google2011 task_events file: expected {len(GOOGLE_COLUMNS)} columns")


def _alibaba_is_cloudsim(header: list[str]) -> bool:
    return set(ALIBABA_CLOUDSIM_COLUMNS) <= set(header)


def _alibaba_frame(path: Path) -> pd.DataFrame:
    """Either Alibaba layout as columns submit, runtime (s), cores, memory fraction, ids, count."""
    header = [c.strip() for c in _first_line(path).split(",")]
    if _alibaba_is_cloudsim(header):
        df = pd.read_csv(path, usecols=list(ALIBABA_CLOUDSIM_COLUMNS))
        cores, runtime = df["cpu"].to_numpy(float), df["duration"].to_numpy(float)
        count = df["instances_num"]
    else:
        df = pd.read_csv(path, header=None, names=list(ALIBABA_RAW_COLUMNS))
        df["submit_time"] = df["create_timestamp"]
        cores = df["plan_cpu"].to_numpy(float) / 100.0
        done = (df["status"] == "Terminated").to_numpy()
        spent = (df["modify_timestamp"] - df["create_timestamp"]).to_numpy(float)
        runtime = np.where(done, spent, np.nan)
        df["memory"], count = df["plan_mem"], df["instance_num"]
    return pd.DataFrame(
        {
            "submit": df["submit_time"].to_numpy(float),
            "runtime": runtime,
            "cores": cores,
            "memory": df["memory"].to_numpy(float),
            "job_id": df["job_id"].astype(str),
            "task_id": df["task_id"].astype(str),
            "count": count.fillna(1).astype(np.int64),
        }
    )


def read_alibaba2017(
    path: str | Path, machine: Machine = Machine(), limit: int | None = None
) -> list[TraceSubmission]:
    """Alibaba 2017 batch tasks: one batch job of `instances_num` allocations per row."""
    df = _alibaba_frame(Path(path)).sort_values("submit", kind="stable").head(limit)
    offsets = (df["submit"] - df["submit"].min()).to_numpy(float).tolist()
    cpus, mems = _mhz(df["cores"].to_numpy(), machine).tolist(), _mb(df["memory"].to_numpy(), machine).tolist()
    runtimes = _optional(df["runtime"].to_numpy(float))
    rows = zip(offsets, df["job_id"].tolist(), df["task_id"].tolist(), df["count"].tolist(), cpus, mems, runtimes, strict=True)
    return [
        TraceSubmission(off, f"alibaba-{j}-{t}", "alibaba2017", n, c, m, rt, meta=(("job_id", j), ("task_id", t)))
        for off, j, t, n, c, m, rt in rows
    ]


def _google_runtimes(df: pd.DataFrame) -> pd.Series:
    """Seconds from a task's last SCHEDULE (else first SUBMIT) to its first FINISH, per task."""
    keys = ["job_id", "task_index"]
    finish = df[df["event"] == GOOGLE_FINISH].groupby(keys)["time"].min().rename("finish")
    sched = df[df["event"] == GOOGLE_SCHEDULE][keys + ["time"]].merge(finish.reset_index(), on=keys)
    started = sched[sched["time"] <= sched["finish"]].groupby(keys)["time"].max().rename("start")
    submit = df[df["event"] == GOOGLE_SUBMIT].groupby(keys)["time"].min()
    frame = pd.concat([finish, started], axis=1).reindex(submit.index)
    return (frame["finish"] - frame["start"].fillna(submit)) / 1e6


def read_google2011(
    path: str | Path, machine: Machine = Machine(), limit: int | None = None
) -> list[TraceSubmission]:
    """Google 2011 task_events: one batch job per job ID with one allocation per task index."""
    cols = ["time", "job_id", "task_index", "event", "sched_class", "priority", "cpu", "memory"]
    df = pd.read_csv(path, header=None, names=list(GOOGLE_COLUMNS), usecols=cols)
    df = df[df["time"] < GOOGLE_END_OF_TRACE]
    runtime = _google_runtimes(df)
    tasks = df[df["event"] == GOOGLE_SUBMIT].groupby(["job_id", "task_index"]).agg(
        submit=("time", "min"), cpu=("cpu", "max"), memory=("memory", "max"),
        priority=("priority", "first"), sched_class=("sched_class", "first"))
    tasks["runtime"] = runtime
    jobs = tasks.groupby(level="job_id", sort=True)
    summary = jobs.agg(submit=("submit", "min"), cpu=("cpu", "max"), memory=("memory", "max"),
                       priority=("priority", "first"), sched_class=("sched_class", "first"),
                       count=("submit", "size")).sort_values("submit", kind="stable").head(limit)
    per_job = {jid: tuple(_optional(g["runtime"].to_numpy(float))) for jid, g in jobs}
    cpus = _mhz(summary["cpu"].fillna(0).to_numpy(float) * machine.cpu_cores, machine).tolist()
    mems = _mb(summary["memory"].fillna(0).to_numpy(float), machine).tolist()
    offsets = ((summary["submit"] - summary["submit"].min()) / 1e6).tolist()
    out = []
    for (jid, row), off, c, m in zip(summary.iterrows(), offsets, cpus, mems, strict=True):
        prio = int(row["priority"])
        meta = (("job_id", str(jid)), ("priority", str(prio)), ("scheduling_class", str(int(row["sched_class"]))))
        rts = per_job[jid]
        known = [r for r in rts if r is not None]
        out.append(TraceSubmission(off, f"google-{jid}", "google2011", int(row["count"]), c, m,
                                   max(known) if known else None, rts, priority=1 + 9 * min(prio, 11), meta=meta))
    return out


def read_openb(
    path: str | Path, machine: Machine = Machine(), limit: int | None = None
) -> list[TraceSubmission]:
    """Alibaba openb pod list: one single-allocation batch job per pod (GPUs as devices)."""
    df = pd.read_csv(path, usecols=list(OPENB_COLUMNS), dtype={"name": str, "gpu_spec": str, "qos": str})
    df = df.sort_values("creation_time", kind="stable").head(limit)
    start = df["scheduled_time"].fillna(df["creation_time"])
    runtimes = _optional((df["deletion_time"] - start).to_numpy(float))
    offsets = (df["creation_time"] - df["creation_time"].min()).to_numpy(float).tolist()
    cpus = _mhz(df["cpu_milli"].to_numpy(float) / 1000.0, machine).tolist()
    mems = np.maximum(df["memory_mib"].to_numpy(np.int64), MIN_MEMORY).tolist()
    out = []
    cols = zip(df["name"].tolist(), df["num_gpu"].fillna(0).astype(int).tolist(), df["gpu_milli"].fillna(0).tolist(),
               df["gpu_spec"].fillna("").tolist(), df["qos"].fillna("").tolist(), strict=True)
    for (name, gpus, gpu_milli, spec, qos), off, c, m, rt in zip(cols, offsets, cpus, mems, runtimes, strict=True):
        meta = (("qos", qos), ("gpu_milli", str(int(gpu_milli))), ("gpu_spec", spec))
        job_id = f"openb-{name}".replace(" ", "_")
        out.append(TraceSubmission(off, job_id, "openb", 1, c, int(m), rt, meta=meta, gpus=max(gpus, 0)))
    return out


OPENB_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


@dataclass(frozen=True, slots=True)
class TraceNode:
    """One node of a trace's node list: name, CPU MHz, memory MB, GPUs and their model."""

    name: str
    cpu: int
    memory: int
    gpus: int
    model: str


def read_openb_nodes(path: str | Path, machine: Machine = Machine()) -> list[TraceNode]:
    """Alibaba openb node list (sn, cpu_milli, memory_mib, gpu, model), in file order: CPU milli
    to MHz through `machine.mhz_per_core`, memory MiB as MB."""
    df = pd.read_csv(path, usecols=list(OPENB_NODE_COLUMNS), dtype={"sn": str, "model": str})
    cpus = _mhz(df["cpu_milli"].to_numpy(float) / 1000.0, machine).tolist()
    gpus = df["gpu"].fillna(0).astype(int).clip(lower=0).tolist()
    cols = zip(df["sn"].tolist(), cpus, df["memory_mib"].astype(int).tolist(), gpus, df["model"].fillna("").tolist(),
               strict=True)
    return [TraceNode(name, int(cpu), max(int(mem), 0), gpu, model) for name, cpu, mem, gpu, model in cols]


READERS: dict[str, Callable[[str | Path, Machine, int | None], list[TraceSubmission]]] = {
    "alibaba2017": read_alibaba2017,
    "google2011": read_google2011,
    "openb": read_openb,
}


def read_trace(
    fmt: str,
    path: str | Path,
    machine: Machine = Machine(),
    limit: int | None = None,
    time_scale: float = 1.0,
    runtime_scale: float = 1.0,
    start: float = 0.0,
) -> list[TraceSubmission]:
    """Read a trace in submission order.

    Args:
        fmt: one of FORMATS.
        path: the trace file (pandas reads compressed files too).
        machine: what normalised requests refer to.
        limit: keep only the first `limit` submissions.
        time_scale: multiplies submit offsets (0.5 submits twice as fast).
        runtime_scale: multiplies runtimes.
        start: added to every offset (e.g. the workload action's `at`).
    """
    if fmt not in READERS:
        raise ValueError(f"unknown trace format {fmt!r}; one of {', '.join(FORMATS)}")
    subs = READERS[fmt](path, machine, limit)
    if time_scale == 1.0 and runtime_scale == 1.0 and start == 0.0:
        return subs
    return [_scaled(s, time_scale, runtime_scale, start) for s in subs]


def _scaled(sub: TraceSubmission, time_scale: float, runtime_scale: float, start: float) -> TraceSubmission:
    def scale(r: float | None) -> float | None:
        return None if r is None else r * runtime_scale

    runtimes = None if sub.runtimes is None else tuple(scale(r) for r in sub.runtimes)
    offset = start + sub.offset * time_scale
    return replace(sub, offset=offset, runtime=scale(sub.runtime), runtimes=runtimes)
