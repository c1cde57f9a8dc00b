"""Dispatch benchmark: 10,000 children of a parameterized batch job over one simulated day.

Runs scenarios/bench/dispatch-10k.yaml: every child goes through dispatch, the broker, a worker,
the plan applier and a client, and runs a few minutes. Target: under 60 s wall. If the workload
replay cannot run the scenario's `dispatch_generate` action yet, the benchmark drives the same
arrival process itself (Poisson times drawn from the run's workload stream, calling
sim.server.dispatch.dispatch), so the figure measures the engine either way.

    python benchmarks/bench_dispatch.py [--scenario PATH] [--until SECONDS] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import resource
import time
from pathlib import Path

from sim.errors import SimError
from sim.scenario.actions import DispatchGenerate
from sim.scenario.load import load_scenario
from sim.server.dispatch import DispatchRequest, dispatch
from sim.simulation import Simulation

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "bench" / "dispatch-10k.yaml"


def build(path: Path) -> tuple[Simulation, str]:
    """The simulation, and who dispatches: "workload" (the scenario replay) or "benchmark"."""
    scenario = load_scenario(path)
    try:
        return Simulation(scenario), "workload"
    except NotImplementedError:
        generators = [a for a in scenario.workload if isinstance(a, DispatchGenerate)]
        rest = tuple(a for a in scenario.workload if not isinstance(a, DispatchGenerate))
        sim = Simulation(dataclasses.replace(scenario, workload=rest))
        for action in generators:
            sim.env.process(drive(sim, action))
        return sim, "benchmark"


def drive(sim: Simulation, action: DispatchGenerate):
    """Dispatch `action.job` at Poisson (or fixed-rate) times between start and stop, at most `count`."""
    rng, env = sim.rngs["workload"], sim.env
    at, sent = action.start, 0
    limit = action.count if action.count is not None else float("inf")
    while sent < limit:
        at += rng.exponential(1.0 / action.rate) if action.arrival == "poisson" else 1.0 / action.rate
        if at >= action.stop:
            return
        yield env.timeout(at - env.now)
        request = DispatchRequest(job_id=action.job, payload=action.payload.encode(), meta=dict(action.meta))
        try:
            dispatch(sim.server, "default", request)
        except SimError as err:
            sim.workload.errors.append((sim.now, "dispatch", str(err)))
        sent += 1


def report(sim: Simulation, driver: str, built: float, ran: float, parent: str) -> None:
    """Print wall times, what was dispatched and how it ended, events per second and peak memory."""
    children = [j for j in sim.state.jobs("default", f"{parent}/dispatch-") if j.parent_id == parent]
    allocs = sim.state.allocs()
    complete = sum(1 for a in allocs if a.client_status == "complete")
    summary = sim.state.job_summary("default", parent)
    events = next(sim.env._eid)  # SimPy's event counter: every event ever scheduled
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dispatcher: {driver}  simulated {sim.now / 3600:.1f} h")
    print(f"build {built:.2f}s  run {ran:.2f}s  total {built + ran:.2f}s wall")
    print(f"children {len(children)}  evals {len(sim.state.evals())}  allocs {len(allocs)}  complete {complete}")
    if summary is not None:
        c = summary.children
        print(f"parent Children: pending {c.pending} running {c.running} dead {c.dead}")
    print(f"rejected actions {len(sim.workload.errors)}  events/s {events / ran:,.0f}  peak memory {peak_mb:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--until", type=float, default=None, help="simulated seconds (default: the duration)")
    parser.add_argument("--parent", default="render", help="the parameterized job to count children of")
    parser.add_argument("--profile", help="write a cProfile of the run here")
    args = parser.parse_args()
    start = time.perf_counter()
    sim, driver = build(args.scenario)
    built = time.perf_counter()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    sim.run(args.until)
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    end = time.perf_counter()
    report(sim, driver, built - start, end - built, args.parent)


if __name__ == "__main__":
    main()
