"""Core pipeline benchmark: 5,000 nodes, 100 service jobs of count 1,000 (100,000 allocations).

Every job goes through the full pipeline (job endpoint, broker, workers, plan applier, clients).
Reports wall time, placements per second, simulation events per second and peak memory.

    python benchmarks/bench_core.py [--nodes 5000] [--jobs 100] [--count 1000] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--until", type=float, default=600.0, help="simulated seconds to run")
    parser.add_argument("--profile", help="write a cProfile of the run here")
    args = parser.parse_args()
    start = time.perf_counter()
    sim = Simulation.from_scenario(scenario(args.nodes, args.jobs, args.count))
    built = time.perf_counter()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    sim.run(args.until)
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    end = time.perf_counter()
    running = sum(1 for a in sim.state.allocs() if a.client_status == "running")
    placed = len(sim.state.allocs())
    events = sim.env._eid  # SimPy's event counter: every event ever scheduled
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"nodes={args.nodes} jobs={args.jobs} count={args.count}")
    print(f"build {built - start:.2f}s  run {end - built:.2f}s  total {end - start:.2f}s wall")
    print(f"allocations placed {placed}  running {running}  evals {len(sim.state.evals())}")
    print(f"placements/s {placed / (end - built):,.0f}  events/s {next(events) / (end - built):,.0f}")
    print(f"peak memory {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
