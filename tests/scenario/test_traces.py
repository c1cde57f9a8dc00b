"""Tests of sim.scenario.traces: each format on a small sample, the real Alibaba file, scaling options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.scenario.traces import Machine, TraceSubmission, check_trace, read_trace

REPO = Path(__file__).resolve().parents[2]
ALIBABA = REPO / "scenarios" / "traces" / "alibaba-2017-batch-tasks.csv"
MACHINE = Machine(cpu_cores=64, memory=100_000, mhz_per_core=2000)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_alibaba_cloudsim_rows_become_batch_jobs(tmp_path):
    """Each row is a batch job of instances_num allocs; cores → MHz, memory fraction → MB."""
    path = write(tmp_path, "a.csv", ",submit_time,duration,cpu,memory,job_id,task_id,instances_num,disk\n"
                 "0,500,30.5,0.5,0.01,2,7,4,0\n1,100,12.0,1.0,0.002,1,3,1,0\n")
    first, second = read_trace("alibaba2017", path, MACHINE)
    assert (first.offset, second.offset) == (0.0, 400.0)
    job = first.job
    assert job["ID"] == "alibaba-1-3" and job["Type"] == "batch" and job["TaskGroups"][0]["Count"] == 1
    assert job["TaskGroups"][0]["Tasks"][0]["Resources"] == {"CPU": 2000, "MemoryMB": 200}
    assert second.job["TaskGroups"][0]["Count"] == 4 and second.runtime == 30.5
    assert second.job["TaskGroups"][0]["Tasks"][0]["Resources"] == {"CPU": 1000, "MemoryMB": 1000}


def test_alibaba_raw_batch_task_file_uses_plan_cpu_percent(tmp_path):
    """The headerless batch_task.csv: plan_cpu in percent of a core; unfinished tasks have no runtime."""
    path = write(tmp_path, "b.csv", "10,70,1,1,3,Terminated,50,0.01\n20,0,1,2,1,Failed,200,0.02\n")
    first, second = read_trace("alibaba2017", path, MACHINE)
    assert first.runtime == 60.0 and first.job["TaskGroups"][0]["Count"] == 3
    assert first.job["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] == 1000
    assert second.offset == 10.0 and second.runtime is None
    assert second.job["TaskGroups"][0]["Tasks"][0]["Resources"] == {"CPU": 4000, "MemoryMB": 2000}


def test_real_alibaba_file_loads_fast():
    """The full 31,756-row Alibaba file loads in well under a second, in submit order."""
    started = time.perf_counter()
    subs = read_trace("alibaba2017", ALIBABA)
    assert time.perf_counter() - started < 1.0
    assert len(subs) == 31_756 and subs[0].offset == 0.0
    offsets = [s.offset for s in subs]
    submits = _submit_times()
    assert offsets == sorted(offsets) and offsets[-1] == max(submits) - min(submits)
    assert sum(s.count for s in subs) == 2_551_075
    assert min(s.cpu for s in subs) >= 1 and min(s.memory for s in subs) >= 10


def _submit_times() -> list[int]:
    import pandas as pd

    return pd.read_csv(ALIBABA, usecols=["submit_time"])["submit_time"].tolist()


GOOGLE = (
    # time µs, missing, job, task index, machine, event, user, class, priority, cpu, mem, disk, diff-machine
    "0,,10,0,,0,u,1,9,0.125,0.0625,0.001,0\n"
    "0,,10,1,,0,u,1,9,0.25,0.03125,0.001,0\n"
    "5000000,,10,0,77,1,u,1,9,0.125,0.0625,0.001,0\n"
    "65000000,,10,0,77,4,u,1,9,0.125,0.0625,0.001,0\n"
    "3000000,,20,0,,0,v,0,0,0.5,0.5,0.0,1\n"
    "4000000,,20,0,,7,v,0,0,0.5,0.5,0.0,1\n"
    "13000000,,20,0,,4,v,0,0,0.5,0.5,0.0,1\n"
    "9223372036854775807,,30,0,,0,w,0,0,0.5,0.5,0.0,0\n"
)


def test_google_submits_group_per_job_with_runtimes_per_task(tmp_path):
    """SUBMITs group per job; runtime SCHEDULE (else SUBMIT) → FINISH; end-of-trace rows dropped."""
    path = write(tmp_path, "g.csv", GOOGLE)
    first, second = read_trace("google2011", path, MACHINE)
    assert [first.job_id, second.job_id] == ["google-10", "google-20"] and second.offset == 3.0
    assert first.count == 2 and first.runtimes == (60.0, None) and first.runtime == 60.0
    assert first.runtime_for(0) == 60.0 and first.runtime_for(1) is None
    assert first.cpu == round(0.25 * 64 * 2000) and first.memory == round(0.0625 * 100_000)
    assert (first.priority, second.priority) == (82, 1)
    assert second.runtimes == (10.0,) and first.job["Meta"]["scheduling_class"] == "1"


def test_openb_pods_become_single_alloc_jobs_with_gpus(tmp_path):
    """openb: cpu_milli → MHz, memory MiB, GPUs as devices, runtime scheduled → deletion."""
    header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
    path = write(tmp_path, "o.csv", header + "openb-pod-0001,4000,8192,1,500,V100M16,LS,Running,100,,110\n"
                 "openb-pod-0000,500,4,0,0,,BE,Succeeded,50,200,\n")
    first, second = read_trace("openb", path, MACHINE)
    assert first.job_id == "openb-openb-pod-0000" and first.runtime == 150.0 and first.memory == 10
    res = second.job["TaskGroups"][0]["Tasks"][0]["Resources"]
    assert res == {"CPU": 8000, "MemoryMB": 8192, "Devices": [{"Name": "nvidia/gpu", "Count": 1}]}
    assert second.offset == 50.0 and second.runtime is None and second.job["Meta"]["gpu_milli"] == "500"


def test_limit_scales_and_start_apply(tmp_path):
    """limit keeps the first submissions; time_scale, runtime_scale and start transform them."""
    subs = read_trace("alibaba2017", ALIBABA, limit=5, time_scale=0.5, runtime_scale=2.0, start=100.0)
    plain = read_trace("alibaba2017", ALIBABA, limit=5)
    assert len(subs) == 5
    for scaled, base in zip(subs, plain, strict=True):
        assert scaled.offset == 100.0 + base.offset * 0.5 and scaled.runtime == base.runtime * 2.0


def test_job_is_a_fresh_dict_each_time():
    """TraceSubmission.job builds a new dict, so callers may edit it."""
    sub = TraceSubmission(0.0, "j", "openb", 1, 100, 64, 5.0)
    sub.job["ID"] = "changed"
    assert sub.job["ID"] == "j" and sub.job["TaskGroups"][0]["Tasks"][0]["Config"] == {"image": "openb"}


def test_check_trace_rejects_wrong_headers_and_formats(tmp_path):
    """check_trace reads one line and rejects the wrong format."""
    check_trace("alibaba2017", ALIBABA)
    with pytest.raises(ValueError, match="openb"):
        check_trace("openb", ALIBABA)
    with pytest.raises(ValueError, match="google2011"):
        check_trace("google2011", ALIBABA)
    with pytest.raises(ValueError, match="unknown trace format"):
        check_trace("borg", ALIBABA)
    with pytest.raises(ValueError, match="unknown trace format"):
        read_trace("borg", ALIBABA)
