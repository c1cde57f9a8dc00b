"""Full regression-suite benchmark: scenarios/bench x policies x seeds on N workers, wall time.

The issue's budget is the whole suite (default policies, 3 seeds) in under 10 minutes of wall
time with 2 workers. Prints the wall time, the runs per scenario as they finish, and, when a
baseline exists, the regression verdicts (exit status 1 on a regression, as `nomadsim bench`).

    python benchmarks/bench_suite.py [--workers 2] [--seeds 3] [--policy binpack --policy spread]
                                     [--suite scenarios/bench] [--dask local] [--update-baseline]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.cli.bench import print_comparison
from sim.experiments.bench import (
    DEFAULT_POLICIES,
    DEFAULT_SUITE,
    baseline_path,
    compare,
    read_baseline,
    regressions,
    run_bench,
    suite_name,
    write_baseline,
)

BUDGET_SECONDS = 600.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(DEFAULT_SUITE))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--policy", action="append")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--dask", help="'local' for a LocalCluster, or a scheduler address")
    parser.add_argument("--out", default=None)
    parser.add_argument("--update-baseline", action="store_true")
    args = parser.parse_args()
    executor = "local" if not args.dask else ("dask" if args.dask == "local" else args.dask)
    start = time.perf_counter()

    def progress(row: dict) -> None:
        print(f"{time.perf_counter() - start:7.1f}s  {row['run_id']}  {row['status']}  {row['error']}", flush=True)

    frame = run_bench(args.suite, args.policy or DEFAULT_POLICIES, range(1, args.seeds + 1), executor, args.workers,
                      args.out, only=args.scenario, on_result=progress)
    wall = time.perf_counter() - start
    failed = int((frame["status"] == "failed").sum())
    print(f"\nsuite {args.suite}: {len(frame)} runs ({failed} failed), {args.workers} workers, "
          f"wall {wall:.1f}s ({'within' if wall <= BUDGET_SECONDS else 'OVER'} the {BUDGET_SECONDS:.0f}s budget)")
    baseline = baseline_path(args.suite)
    if args.update_baseline:
        write_baseline(baseline, frame, suite_name(args.suite))
        print(f"baseline written: {baseline}")
        return 1 if failed else 0
    if not Path(baseline).exists():
        print(f"no baseline at {baseline}; run with --update-baseline to record one")
        return 1 if failed else 0
    comparison = compare(frame, read_baseline(baseline))
    print_comparison(comparison)
    return 1 if failed or len(regressions(comparison)) else 0


if __name__ == "__main__":
    sys.exit(main())
