"""Alibaba trace replay benchmark: the full 2017 batch task file on 100 machines of 64 cores.

Each of the 31,756 task rows of scenarios/traces/alibaba-2017-batch-tasks.csv becomes a batch job
of `instances_num` allocations (2.55 million in all) submitted at its trace time and running its
trace duration, through the whole pipeline (job endpoint, broker, workers, plan applier, clients).
Reports the wall time of the replay (target: under 60 s) and of writing the results folder (as
`nomadsim run` writes it, into a temporary folder), the makespan (last job completion - first
submission, simulated seconds, read back from that folder), and peak memory; the replay's CPU time; and the scheduler's own CPU time per pass (the generic scheduler's `process` or
the workers' fast lane for blocked evals, plan round trips excluded), for the passes that placed
nothing and re-blocked their eval (failed passes) and for the others.

    python benchmarks/bench_alibaba.py [--limit N] [--nodes 100] [--window 13h:15h] [--until 1d] [--profile out.prof] [--no-results] [--progress] [--time-every 1]
"""

from __future__ import annotations

import argparse
import cProfile
import resource
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import sim.server.worker as worker_module
from sim.results.folder import write_final
from sim.scenario.build import parse_duration
from sim.simulation import Simulation

TRACE = Path(__file__).resolve().parents[1] / "scenarios" / "traces" / "alibaba-2017-batch-tasks.csv"
TARGET_SECONDS = 60.0


def scenario(limit: int | None, until: float, nodes: int = 100, trace_path: Path = TRACE) -> dict:
    """`nodes` machines of 64 cores × 2000 MHz and 128 GiB replaying the trace (all of it by default)."""
    trace = {"format": "alibaba2017", "path": str(trace_path),
             "machine": {"cpu_cores": 64, "memory": 131072, "mhz_per_core": 2000}}
    if limit:
        trace["limit"] = limit
    return {
        "name": "bench-alibaba", "seed": 2017, "duration": until,
        "cluster": {"nodes": [{"count": nodes, "name_prefix": "m",
                               "resources": {"cpu": 128000, "memory": 131072}}]},
        "control_plane": {"num_schedulers": 2},
        "workload": [{"at": 0, "trace": trace}],
        "metrics": {"sample_every": "5m"},
    }


def window_trace(start: float, end: float, out: Path) -> Path:
    """The task rows submitted in [start, end) seconds of the trace, written to `out` (profiling
    one stretch of the day, e.g. the overloaded afternoon, without replaying the hours before)."""
    import pandas as pd

    df = pd.read_csv(TRACE, index_col=0)
    first = df["submit_time"].min()
    df[(df["submit_time"] - first >= start) & (df["submit_time"] - first < end)].to_csv(out)
    return out


class SchedulerClock:
    """Times the scheduler passes of the workers: each pass's own time (from the eval handed in
    to the outcome handed back, without the time its plans spent with the applier), for failed
    passes (nothing placed, eval re-blocked) by how they were answered (sim.scheduler.failed_pass:
    from the memo without reconciling, in the workers' fast lane without building a scheduler or
    in a retry after the applier rejected the scheduler's plan; after reconciling; or by the full
    scheduler) and for the rest.

    Every pass is counted; one pass in `every` (by arrival; every pass by default, none with 0)
    is timed, and each kind's seconds are its timed passes' mean times its count. Sampling suits
    the failed passes, which cost about the same each, but not the placing ones, whose costs vary
    a hundredfold. A pass is timed with the monotonic clock, not the CPU clock: reading the CPU
    clock is a system call, which cost the whole file ~10 us per pass (more than the 0.6 us of the
    call alone); on this quiet single-threaded run the two clocks agree but for preemptions."""

    KINDS = ("failed, memo", "failed, memo retry", "failed, reconciled", "failed, full", "other")

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.timed = {kind: [0, 0.0] for kind in self.KINDS}  # timed passes, their seconds
        self._passes = 0
        self._new_scheduler = worker_module.new_scheduler
        self._replay_blocked = worker_module.replay_blocked
        self._carry = 0.0  # CPU seconds of a fast-lane attempt the full pass then took over
        self._memo: Any = None  # the state's failed-pass memo, once made (then kept for the run)

    @property
    def tallies(self) -> dict[str, tuple[int, float]]:
        """Per kind: (passes, estimated seconds)."""
        return {kind: (n, self.timed[kind][1] / max(self.timed[kind][0], 1) * n) for kind, n in self.counts.items()}

    def install(self) -> None:
        """Wrap the factory the workers call and their fast lane for blocked evals (for this process)."""
        worker_module.new_scheduler = self._timed_scheduler  # type: ignore[assignment]
        worker_module.replay_blocked = self._timed_replay  # type: ignore[assignment]

    def _timed_scheduler(self, eval_type: str, senv: Any) -> Any:
        self._passes += 1
        timed = self.every > 0 and self._passes % self.every == 0
        return _TimedScheduler(self, self._new_scheduler(eval_type, senv), senv.state, timed)

    def _timed_replay(self, *args: Any) -> Any:
        """The workers' fast lane: a pass answered by the memo, or the start of the full pass
        that follows (its time carried over to that pass)."""
        timed = self.every > 0 and (self._passes + 1) % self.every == 0
        start = time.perf_counter() if timed else 0.0
        answer = self._replay_blocked(*args)
        spent = time.perf_counter() - start if timed else 0.0
        if answer is None:
            self._carry = spent
            return None
        self._passes += 1
        self.counts["failed, memo"] += 1
        if timed:
            self.timed["failed, memo"][0] += 1
            self.timed["failed, memo"][1] += spent
        return answer

    def _timed(self, gen: Generator[Any, Any, Any], state: Any, timed: bool) -> Generator[Any, Any, Any]:
        spent, result, self._carry = self._carry, None, 0.0
        while True:
            before = self._memo_answers(state)
            start = time.perf_counter() if timed else 0.0
            try:
                plan = next(gen) if result is None else gen.send(result)
            except StopIteration as stop:
                spent += time.perf_counter() - start if timed else 0.0
                outcome = stop.value
                kind = "other"
                if outcome.reblock and not outcome.placed:
                    after = self._memo_answers(state)
                    kind = ("failed, memo retry" if after[0] > before[0] else "failed, reconciled" if after[1] > before[1]
                            else "failed, full")
                self.counts[kind] += 1
                if timed:
                    self.timed[kind][0] += 1
                    self.timed[kind][1] += spent
                return outcome
            if timed:
                spent += time.perf_counter() - start
            result = yield plan

    def release(self) -> None:
        """Let go of the state's memo (the run is over)."""
        self._memo = None

    def _memo_answers(self, state: Any) -> tuple[int, int]:
        """Passes the failed-pass memo answered so far: without reconciling, after reconciling."""
        memo = self._memo
        if memo is None:
            memo = self._memo = getattr(state, "derived", {}).get("failed_passes")
            if memo is None:
                return 0, 0
        return memo.replayed, memo.settled

    def report(self, replay_cpu: float) -> str:
        """Per kind of pass: count and scheduler CPU; and the replay's CPU less the placing passes'
        scheduler CPU, per failed pass (a bound on a failed pass's whole cycle, dequeue to ack)."""
        tallies = self.tallies
        failed = [sum(tallies[k][i] for k in self.KINDS[:4]) for i in (0, 1)]
        sampled = "" if self.every == 1 else f"; one pass in {self.every} timed" if self.every else "; none timed"
        rest = (replay_cpu - tallies["other"][1]) / max(failed[0], 1)
        per_failed = f"per failed pass {rest * 1e6:,.1f} us" if failed[0] else "no failed pass"
        lines = [f"replay CPU {replay_cpu:.1f} s; less the placing passes' scheduler CPU, {per_failed}",
                 f"scheduler CPU per failed pass {failed[1] / max(failed[0], 1) * 1e6:,.1f} us ({failed[0]:,} passes{sampled})"]
        for kind, (n, seconds) in tallies.items():
            lines.append(f"  {kind:18s} {n:8,} passes {seconds / max(n, 1) * 1e6:9,.1f} us each {seconds:7.1f} s")
        return "\n".join(lines)


class _TimedScheduler:
    """A scheduler whose passes the clock times. A wrapper rather than a `process` attribute set
    on the scheduler: that lambda would make every scheduler a reference cycle, left to the
    cyclic collector with everything its pass made (9% of the 14h window's CPU)."""

    __slots__ = ("clock", "scheduler", "state", "timed")

    def __init__(self, clock: SchedulerClock, scheduler: Any, state: Any, timed: bool) -> None:
        self.clock, self.scheduler, self.state, self.timed = clock, scheduler, state, timed

    def process(self, ev: Any) -> Generator[Any, Any, Any]:
        return self.clock._timed(self.scheduler.process(ev), self.state, self.timed)


def _report_run(sim: Simulation, run_s: float) -> None:
    state = sim.state
    jobs = state.jobs()
    dead = [j for j in jobs if j.status == "dead"]
    print(f"jobs {len(jobs)} (dead {len(dead)})  allocations {state.alloc_count():,}  "
          f"simulated {sim.now:,.0f} s")
    print(f"replay {run_s:.1f} s wall ({'under' if run_s < TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS:.0f} s target)")
    runs = sim.recorder.scheduler_runs()
    print(f"scheduler runs {runs:,}  ({run_s / max(runs, 1) * 1e6:,.0f} us of replay wall per run, all else included)")


def _write_results(sim: Simulation) -> tuple[float, float]:
    """Write the results folder as `nomadsim run` does (sim.results.folder.write_final) into a
    temporary folder, and read back its jobs table: (makespan, mean slowdown)."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as out:
        write_final(Path(out), sim)
        j = pd.read_parquet(Path(out) / "jobs.parquet", columns=["submit", "completed", "slowdown"])
    return j["completed"].max() - j["submit"].min(), j["slowdown"].mean()


def _report_results(read: tuple[float, float] | None, results_s: float) -> None:
    if read is not None:
        makespan, slowdown = read
        print(f"results folder {results_s:.1f} s wall  makespan {makespan:,.0f} s simulated  "
              f"mean slowdown {slowdown:.3f}")
    print(f"process CPU so far {time.process_time():.1f} s")
    print(f"peak memory {_peak_mb():,.0f} MB")


def _peak_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_by_hour(sim: Simulation, start: float) -> None:
    """Run one simulated hour at a time, printing wall time, allocations and scheduler runs so far."""
    hour = 3600.0
    while sim.now < sim.scenario.duration:
        sim.run(min(sim.scenario.duration, sim.now + hour))
        print(f"  t={sim.now / hour:5.1f} h  wall {time.perf_counter() - start:7.1f} s  "
              f"allocations {sim.state.alloc_count():,}  scheduler runs {sim.recorder.scheduler_runs():,}  "
              f"peak {_peak_mb():,.0f} MB",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="replay only the first N task rows")
    parser.add_argument("--nodes", type=int, default=100, help="cluster size (default 100)")
    parser.add_argument("--window", help="replay only rows submitted in START:END (e.g. 13h:15h)")
    parser.add_argument("--until", default="1d", help="simulated time to run (default 1d)")
    parser.add_argument("--profile", help="write a cProfile of the replay here")
    parser.add_argument("--no-results", action="store_true", help="skip writing the results folder")
    parser.add_argument("--progress", action="store_true", help="print wall time per simulated hour")
    parser.add_argument("--time-every", type=int, default=1, metavar="N",
                        help="time one scheduler pass in N (monotonic clock) (default 1: every pass; 0: none)")
    args = parser.parse_args()
    start = time.perf_counter()
    trace = TRACE
    if args.window:
        first, last = (parse_duration(x) for x in args.window.split(":"))
        trace = window_trace(first, last, Path(tempfile.mkdtemp()) / "window.csv")
    sim = Simulation.from_scenario(scenario(args.limit, parse_duration(args.until), args.nodes, trace))
    clock = SchedulerClock(args.time_every)
    clock.install()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    replay_cpu = time.process_time()
    if args.progress:
        _run_by_hour(sim, start)
    sim.run()
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    ran, replay_cpu = time.perf_counter(), time.process_time() - replay_cpu
    print(f"peak memory of the replay {_peak_mb():,.0f} MB")
    _report_run(sim, ran - start)
    clock.release()  # (the run is over: the tables are built once its state is released)
    built = time.perf_counter()
    read = None if args.no_results else _write_results(sim)
    _report_results(read, time.perf_counter() - built)
    print(clock.report(replay_cpu))


if __name__ == "__main__":
    main()
