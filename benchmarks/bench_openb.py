"""openb GPU trace benchmark: the default pod list (8,152 pods) on the openb GPU node list.

scenarios/openb-gpu.yaml as it is (1,213 nodes with 6,212 GPUs as Nomad devices; arrivals
compressed 5,000x so pods meet on the cluster), through the whole pipeline. Reports the wall
time of the replay and of building the result tables, the GPU KPIs and the peak memory (the
process's maximum resident set).

    python benchmarks/bench_openb.py [--algorithm binpack|spread] [--time-scale 0.0002] [--no-results]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from sim.results.kpis import summarize
from sim.simulation import Simulation

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "openb-gpu.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="binpack", choices=("binpack", "spread"))
    parser.add_argument("--time-scale", type=float, help="the trace's time_scale (default: the scenario's)")
    parser.add_argument("--no-results", action="store_true", help="skip building the result tables")
    args = parser.parse_args()
    overrides: dict[str, object] = {"control_plane.scheduler_algorithm": args.algorithm}
    if args.time_scale is not None:
        overrides["workload[0].trace.time_scale"] = args.time_scale
    start = time.perf_counter()
    sim = Simulation.from_scenario(SCENARIO, overrides=overrides)
    sim.run()
    ran = time.perf_counter()
    print(f"replay {ran - start:.1f} s wall  allocations {sim.state.alloc_count():,}  "
          f"scheduler runs {sim.recorder.scheduler_runs():,}  simulated {sim.now:,.0f} s")
    if not args.no_results:
        tables = sim.results()
        done = time.perf_counter()
        kpis = summarize(tables)
        report = tables["trace_reports"].iloc[0]
        print(f"results {done - ran:.1f} s wall  placed {int(kpis['placements']):,}  "
              f"fractional-GPU pods {report['fractional_gpu']:,}  never placeable {report['never_placeable']:,}")
        print(f"GPU allocation rate mean {kpis['gpu_allocation_rate_mean']:.3f} max {kpis['gpu_allocation_rate_max']:.3f}  "
              f"GPU fragmentation mean {kpis['gpu_fragmentation_mean']:.4f}")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
