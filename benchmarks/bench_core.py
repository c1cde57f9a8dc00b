"""Core pipeline benchmark: 5,000 nodes, 100 service jobs of count 1,000 (100,000 allocations).

Every job goes through the full pipeline (job endpoint, broker, workers, plan applier, clients).
Reports wall and CPU time, placements per second, simulation events per second, the time the
cyclic garbage collector took, and peak memory.

    python benchmarks/bench_core.py [--nodes 5000] [--jobs 100] [--count 1000] [--profile out.prof]

Diagnostics: `--no-gc` runs with the cyclic garbage collector off, to profile the pipeline's own
work apart from the collector's pauses (which land on whichever function allocates);
`--gc-threshold 10000,10,25` runs with other collector thresholds (gc.set_threshold).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import resource
import time

from sim.simulation import Simulation


def scenario(nodes: int, jobs: int, count: int) -> dict:
    """The benchmark scenario: identical nodes, jobs registered one second apart."""
    job = lambda i: {  # noqa: E731
        "ID": f"svc-{i}", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "web", "Count": count, "Update": {"MaxParallel": 0},
                        "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "nginx"},
                                   "Resources": {"CPU": 100, "MemoryMB": 64}}]}],
    }
    return {
        "name": "bench-core", "seed": 1, "duration": "2h",
        "cluster": {"nodes": [{"count": nodes, "resources": {"cpu": 16000, "memory": 32768, "disk": 200000}}]},
        "control_plane": {"num_schedulers": 2},
        "workload": [{"at": f"{i}s", "register": job(i)} for i in range(jobs)],
        "metrics": {"sample_every": "10m"},
    }


class GcClock:
    """CPU seconds spent in the cyclic garbage collector, per generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._start
            self.counts[info["generation"]] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--until", type=float, default=600.0, help="simulated seconds to run")
    parser.add_argument("--profile", help="write a cProfile of the run here")
    parser.add_argument("--no-gc", action="store_true", help="diagnostic: cyclic garbage collector off")
    parser.add_argument("--gc-threshold", help="diagnostic: gc.set_threshold for the run, e.g. 10000,10,25")
    args = parser.parse_args()
    start, cpu_start = time.perf_counter(), time.process_time()
    sim = Simulation.from_scenario(scenario(args.nodes, args.jobs, args.count))
    built, cpu_built = time.perf_counter(), time.process_time()
    if args.no_gc:
        gc.disable()
    if args.gc_threshold:
        gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    sim.run(args.until)
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    end, cpu_end = time.perf_counter(), time.process_time()
    gc.callbacks.remove(gc_clock)
    running = sum(1 for a in sim.state.allocs() if a.client_status == "running")
    placed = len(sim.state.allocs())
    events = next(sim.env._eid)  # SimPy's event counter: every event ever scheduled
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run_wall, run_cpu = end - built, cpu_end - cpu_built
    note = " (gc off)" if args.no_gc else f" (gc threshold {args.gc_threshold})" if args.gc_threshold else ""
    print(f"nodes={args.nodes} jobs={args.jobs} count={args.count}{note}")
    print(f"build {built - start:.2f}s  run {run_wall:.2f}s  total {end - start:.2f}s wall")
    print(f"cpu: build {cpu_built - cpu_start:.2f}s  run {run_cpu:.2f}s  total {cpu_end - cpu_start:.2f}s"
          f"  (gc {sum(gc_clock.seconds):.2f}s, {gc_clock.counts[2]} full collections)")
    print(f"allocations placed {placed}  running {running}  evals {len(sim.state.evals())}")
    print(f"placements/s {placed / run_wall:,.0f} wall, {placed / run_cpu:,.0f} cpu  events/s {events / run_wall:,.0f}")
    print(f"peak memory {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
