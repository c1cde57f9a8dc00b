"""Core pipeline benchmark: 5,000 nodes, 100 service jobs of count 1,000 (100,000 allocations).

Every job goes through the full pipeline (job endpoint, broker, workers, plan applier, clients).
Reports wall and CPU time, placements per second, simulation events per second, the time the
cyclic garbage collector took, and peak memory.

    python benchmarks/bench_core.py [--nodes 5000] [--jobs 100] [--count 1000] [--profile out.prof]
    python benchmarks/bench_core.py --shape c1m     # 1,000 jobs x 1,000 allocs (50 MHz / 32 MB) on 5,000 nodes
    python benchmarks/bench_core.py --shape c2m     # 2,000 jobs x 1,000 allocs on 6,100 nodes
    python benchmarks/bench_core.py --floor         # also time the numpy placement floor, before and after
    python benchmarks/bench_core.py --shape c1m --preemption   # service and batch preemption on (nothing to preempt)

`--floor` times, in the same process, the least any placement loop over these nodes can cost in
numpy: per allocation a shuffled window of log2(nodes) candidates (Nomad's limit), a fit mask,
the BinPack score, argmax, and the usage update. The run's CPU time divided by the floor's is the
"ratio to the floor" (the two floor runs bracket the simulation, so machine drift shows).

Diagnostics: `--no-gc` runs with the cyclic garbage collector off, to profile the pipeline's own
work apart from the collector's pauses (which land on whichever function allocates). The
collector's thresholds are `World.run`'s own (sim/world.py).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import resource
import time

import numpy as np

from sim.simulation import Simulation

# name -> (nodes, jobs, count, cpu MHz, memory MB, node cpu MHz, node memory MB): Nomad's published
# C1M and C2M shapes (C2M's nodes are larger so that its 2M allocations fit: 6,100 x 16,000 MHz holds
# only 1.95M allocations of 50 MHz)
SHAPES = {"c1m": (5000, 1000, 1000, 50, 32, 16000, 32768), "c2m": (6100, 2000, 1000, 50, 32, 32000, 65536)}
NODE_CPU, NODE_MEMORY = 16000, 32768


def scenario(nodes: int, jobs: int, count: int, cpu: int = 100, memory: int = 64,
             node_cpu: int = NODE_CPU, node_memory: int = NODE_MEMORY, preemption: bool = False) -> dict:
    """The benchmark scenario: identical nodes, jobs registered one second apart (`preemption`:
    every scheduler may preempt, which with one priority never happens)."""
    job = lambda i: {  # noqa: E731
        "ID": f"svc-{i}", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "web", "Count": count, "Update": {"MaxParallel": 0},
                        "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "nginx"},
                                   "Resources": {"CPU": cpu, "MemoryMB": memory}}]}],
    }
    return {
        "name": "bench-core", "seed": 1, "duration": "2h",
        "cluster": {"nodes": [{"count": nodes, "resources": {"cpu": node_cpu, "memory": node_memory, "disk": 200000}}]},
        "control_plane": {"num_schedulers": 2, **({"preemption": dict.fromkeys(
            ("system", "sysbatch", "batch", "service"), True)} if preemption else {})},
        "workload": [{"at": f"{i}s", "register": job(i)} for i in range(jobs)],
        "metrics": {"sample_every": "10m"},
    }


def numpy_floor(nodes: int, allocs: int, cpu: float, memory: float, node_cpu: float = NODE_CPU,
                node_memory: float = NODE_MEMORY, seed: int = 1) -> float:
    """CPU seconds of the leanest numpy placement loop: window, fit, BinPack, argmax, update."""
    rng = np.random.default_rng(seed)
    cap = np.tile(np.array([node_cpu, node_memory], dtype=np.float64), (nodes, 1))
    used = np.zeros_like(cap)
    ask = np.array([cpu, memory])
    window = max(2, int(np.ceil(np.log2(nodes))))
    order = rng.permutation(nodes)
    start = time.process_time()
    offset = 0
    for _ in range(allocs):
        rows = order[np.arange(offset, offset + window) % nodes]
        offset = (offset + window) % nodes
        after = used[rows] + ask
        fits = (after <= cap[rows]).all(axis=1)
        free = 1.0 - after / cap[rows]
        score = np.where(fits, 20.0 - (10.0 ** free).sum(axis=1), -np.inf)  # Nomad: ScoreFitBinPack
        best = rows[int(np.argmax(score))]
        used[best] += ask
    return time.process_time() - start


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
    parser.add_argument("--cpu", type=int, default=100, help="MHz per allocation")
    parser.add_argument("--memory", type=int, default=64, help="MB per allocation")
    parser.add_argument("--node-cpu", type=int, default=NODE_CPU, help="MHz per node")
    parser.add_argument("--node-memory", type=int, default=NODE_MEMORY, help="MB per node")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="a published shape (sets nodes, jobs, count, cpu, memory)")
    parser.add_argument("--floor", action="store_true", help="also time the numpy placement floor, before and after")
    parser.add_argument("--until", type=float, default=600.0, help="simulated seconds to run")
    parser.add_argument("--profile", help="write a cProfile of the run here")
    parser.add_argument("--no-gc", action="store_true", help="diagnostic: cyclic garbage collector off")
    parser.add_argument("--preemption", action="store_true", help="preemption on for every scheduler")
    args = parser.parse_args()
    if args.shape:
        args.nodes, args.jobs, args.count, args.cpu, args.memory, args.node_cpu, args.node_memory = SHAPES[args.shape]
        args.until = max(args.until, args.jobs + 600.0)
    floor_args = (args.nodes, args.jobs * args.count, args.cpu, args.memory, args.node_cpu, args.node_memory)
    floor_before = numpy_floor(*floor_args) if args.floor else 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    sim = Simulation.from_scenario(scenario(args.nodes, args.jobs, args.count, args.cpu, args.memory,
                                            args.node_cpu, args.node_memory, args.preemption))
    built, cpu_built = time.perf_counter(), time.process_time()
    if args.no_gc:
        gc.disable()
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
    note = (" (gc off)" if args.no_gc else "") + (" (preemption on)" if args.preemption else "")
    print(f"nodes={args.nodes} jobs={args.jobs} count={args.count}{note}")
    print(f"build {built - start:.2f}s  run {run_wall:.2f}s  total {end - start:.2f}s wall")
    print(f"cpu: build {cpu_built - cpu_start:.2f}s  run {run_cpu:.2f}s  total {cpu_end - cpu_start:.2f}s"
          f"  (gc {sum(gc_clock.seconds):.2f}s, {gc_clock.counts[2]} full collections)")
    print(f"allocations placed {placed}  running {running}  evals {len(sim.state.evals())}")
    print(f"placements/s {placed / run_wall:,.0f} wall, {placed / run_cpu:,.0f} cpu  events/s {events / run_wall:,.0f}")
    print(f"peak memory {peak_mb:,.0f} MiB")
    if args.floor:
        floor_after = numpy_floor(*floor_args)
        floor = (floor_before + floor_after) / 2
        print(f"numpy floor {floor_before:.2f}s / {floor_after:.2f}s cpu ({floor / max(placed, 1) * 1e6:.1f} us per placement);"
              f"  run cpu / floor {run_cpu / floor:.2f}")


if __name__ == "__main__":
    main()
