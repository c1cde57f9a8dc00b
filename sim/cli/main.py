"""The `nomadsim` command: run, validate, show, serve, view, plot, sweep and bench.

Each subcommand parses its flags and calls one function; errors a user can fix (a bad scenario,
a missing folder) are printed as one line and exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import ModuleType

from sim import __version__
from sim.api.limits import Limits
from sim.cli import bench, plot, sweep
from sim.cli.options import parse_overrides, sigterm_interrupts
from sim.errors import SimError


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario and write its results folder (a failed run still writes its config and error).

    Ctrl-C (or SIGTERM) stops the run cleanly: the tables and summary so far are written and
    run.json says "interrupted"; the exit status is 130.
    """
    from sim.experiments.run import RunInterrupted, run_to_folder
    from sim.results.folder import default_dir
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario, parse_overrides(args.set))
    seed = scenario.seed if args.seed is None else args.seed
    out = Path(args.out) if args.out else default_dir(args.results, scenario.name, seed, fresh=not args.force)
    until = scenario.duration if args.until is None else _seconds(args.until, "--until")
    every = None if args.checkpoint_every is None else _seconds(args.checkpoint_every, "--checkpoint-every")
    advance = lambda sim, t: _run_with_progress(sim, t, quiet=args.quiet)  # noqa: E731
    if args.journal:  # the served run: its writes and advances, then on to `--until` (default: where it stopped)
        from sim.api.journal import end_time, replay

        if every is not None:
            raise SimError("--journal and --checkpoint-every cannot be used together")
        until = end_time(args.journal) if args.until is None else until

        def advance(sim, t: float) -> None:
            replay(sim, sim.api, args.journal)
            _run_with_progress(sim, t, quiet=args.quiet)
    try:
        with sigterm_interrupts():
            summary, sim = run_to_folder(scenario, out, seed=seed, until=until, csv=args.csv, overwrite=args.force,
                                         checkpoint_every=every, advance=advance)
    except RunInterrupted as stop:
        print(f"nomadsim: {stop}", file=sys.stderr)
        return 130
    _print_rejected(sim.workload.errors)
    _print_summary(summary, out)
    return 0


def _print_rejected(errors: list[tuple]) -> None:
    """Each workload action the run rejected, with its message (they are in run.json too)."""
    for time, action, job_id, message in errors:
        print(f"rejected at {time:g} s: {action} {job_id}: {message}", file=sys.stderr)


def _seconds(value: str, flag: str) -> float:
    from sim.scenario.build import parse_duration

    try:
        return parse_duration(value)
    except ValueError as err:
        raise SimError(f"{flag}: {err}") from None


def _run_with_progress(sim, until: float, quiet: bool) -> None:
    """Run from now to `until` (one checkpoint's stretch, or the whole run) with a progress bar."""
    if quiet or not sys.stderr.isatty():
        sim.run(until)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    steps, start = 100, sim.now
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("run", total=until, completed=start)
        for i in range(1, steps + 1):
            sim.run(start + (until - start) * i / steps)
            bar.update(task, completed=sim.now)


def _print_summary(summary: dict[str, float], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from sim.results.kpis import KPI_UNITS
    from sim.results.units import format_value

    table = Table(title=f"summary ({out})")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, value in summary.items():
        unit = KPI_UNITS.get(key, "")
        table.add_row(key, format_value(value, unit), unit)
    Console().print(table)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a scenario file (and its job files)."""
    from sim.scenario.load import load_scenario

    scenario = load_scenario(args.scenario, parse_overrides(args.set))
    print(f"{args.scenario}: ok ({len(scenario.node_names())} nodes, {len(scenario.workload)} workload actions, "
          f"{len(scenario.events)} events)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a completed run's summary (refuses a running, interrupted or failed run's folder)."""
    from sim.results.folder import read_summary, require_complete

    run = require_complete(args.results_dir)
    if not (Path(args.results_dir) / "summary.json").exists():
        raise SimError(f"{args.results_dir}: no summary.json (not a results folder, or the run failed)")
    _print_summary(read_summary(args.results_dir), Path(args.results_dir))
    span = f"simulated {run['simulated_until']:g} s" if "simulated_until" in run else ""
    wall = f" in {run['wall_seconds']:g} s of wall time" if "wall_seconds" in run else ""
    if span:
        print(f"{span}{wall}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the Jobs API of a simulated cluster over HTTP."""
    from sim.api.http import serve
    from sim.api.journal import Journal
    from sim.api.limits import Limits
    from sim.simulation import Simulation

    sim = Simulation.from_scenario(args.scenario, seed=args.seed, overrides=parse_overrides(args.set))
    journal = Journal.open(args.journal, sim, sim.api) if args.journal else None
    if journal is not None:
        print(f"nomadsim: journal {args.journal}: at {sim.now:g}s, index {sim.state.index}", file=sys.stderr)
    limits = Limits(max_body_bytes=args.max_body_bytes, max_blocking=args.max_blocking_queries,
                    acl_token=args.acl_token or "")
    serve(sim, sim.api, host=args.host, port=args.port, clock=args.clock, speed=args.speed, limits=limits,
          journal=journal, out=Path(args.out) if args.out else None)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the web view of a finished run's results folder (read-only)."""
    from sim.ui.web import view

    view(args.results_dir, host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="nomadsim", description="Discrete-event simulator of a Nomad-style scheduler.")
    parser.add_argument("--version", action="version", version=f"nomadsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = _command(sub, "run", "run a scenario and write results", cmd_run, RUN_EXAMPLES)
    run.add_argument("scenario", help="scenario YAML (see scenarios/), or a results folder's scenario.json")
    run.add_argument("--seed", type=int, help="seed of every random stream (default: the scenario's seed)")
    run.add_argument("--out", help="results folder; must be new or empty unless --force (default: a new "
                                   "results/<name>-<seed>, or <name>-<seed>-2, -3... if that one holds results)")
    run.add_argument("--results", default="results", help="root of results folders (default: results)")
    run.add_argument("--force", action="store_true", help="replace the results of an earlier run in the folder")
    run.add_argument("--until", help="simulated time to stop at (e.g. 30m; default: the scenario's duration)")
    run.add_argument("--checkpoint-every", metavar="DURATION",
                     help="write the tables and summary so far every DURATION of simulated time (e.g. 1h)")
    _set_flag(run)
    run.add_argument("--csv", action="store_true", help="write CSV next to Parquet")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--journal", metavar="FILE",
                     help="replay a `serve --journal` file (a served run, reproduced offline)")
    val = _command(sub, "validate", "validate a scenario and its jobs", cmd_validate, VALIDATE_EXAMPLES)
    val.add_argument("scenario", help="scenario YAML; every job is decoded and checked as registration would")
    _set_flag(val)
    show = _command(sub, "show", "print a completed run's summary", cmd_show, SHOW_EXAMPLES)
    show.add_argument("results_dir", help="a results folder written by `nomadsim run`")
    serve = _command(sub, "serve", "serve the Jobs API over HTTP, and the web view at /ui", cmd_serve, SERVE_EXAMPLES)
    serve.add_argument("scenario", help="scenario YAML: the cluster, and a workload replayed as time advances")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4646, help="port (default 4646, Nomad's)")
    serve.add_argument("--seed", type=int, help="seed (default: the scenario's seed)")
    serve.add_argument("--clock", choices=["manual", "realtime"], default="manual",
                       help="manual: time moves only on POST /v1/sim/advance or settle (default); "
                            "realtime: simulated time follows the wall clock")
    serve.add_argument("--speed", type=float, default=1.0,
                       help="realtime clock: simulated seconds per wall second (default 1)")
    _set_flag(serve)
    serve.add_argument("--journal", metavar="FILE", help="append every write and time advance to FILE (fsync'd); "
                       "an existing FILE is replayed first, so a restart resumes where the server stopped")
    serve.add_argument("--out", metavar="DIR", help="results folder, written on POST /v1/sim/results and on exit")
    serve.add_argument("--acl-token", metavar="TOKEN", help="writes need this X-Nomad-Token (else 403)")
    serve.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes, metavar="N",
                       help="largest request body (default %(default)s)")
    serve.add_argument("--max-blocking-queries", type=int, default=Limits.max_blocking, metavar="N",
                       help="blocking queries waiting at once; more get 429 (default %(default)s)")
    view = _command(sub, "view", "open the web view (/ui) over a finished run's results folder", cmd_view,
                    VIEW_EXAMPLES)
    view.add_argument("results_dir", help="a results folder written by `nomadsim run`")
    view.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    view.add_argument("--port", type=int, default=4646, help="port (default 4646)")
    for name, (module, help_text) in sorted(EXTENSIONS.items()):
        _add_extension(sub, name, module, help_text)
    return parser


RUN_EXAMPLES = """examples:
  nomadsim run scenarios/quickstart.yaml
  nomadsim run scenarios/quickstart.yaml --seed 2 --set control_plane.scheduler_algorithm=spread
  nomadsim run scenarios/alibaba-trace.yaml --out results/ali --checkpoint-every 1h
  nomadsim run scenarios/quickstart.yaml --out results/q --force     # replace an earlier run
"""
VALIDATE_EXAMPLES = """examples:
  nomadsim validate scenarios/quickstart.yaml
  nomadsim validate scenarios/mixed.yaml --set duration=2h
"""
VIEW_EXAMPLES = """examples:
  nomadsim run scenarios/quickstart.yaml --out results/q && nomadsim view results/q   # then open http://127.0.0.1:4646/ui
"""
SHOW_EXAMPLES = """examples:
  nomadsim show results/quickstart-1
"""
SERVE_EXAMPLES = """examples:
  nomadsim serve scenarios/quickstart.yaml
  nomadsim serve scenarios/quickstart.yaml --port 4747 --clock realtime --speed 60
  curl -X POST localhost:4646/v1/sim/advance -d '{"Seconds": 60}'
"""


def _command(sub: argparse._SubParsersAction, name: str, help_text: str, func: object,
             examples: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text, epilog=examples,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _set_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario key (dotted path, YAML value), e.g. duration=2h; repeatable")


# Subcommands that live in their own modules: each has `configure(parser)` and `run(args) -> int`.
EXTENSIONS = {
    "plot": (plot, "write the standard plots of a results folder"),
    "sweep": (sweep, "run a parameter sweep (local pool or Dask)"),
    "bench": (bench, "run the regression benchmark suite"),
}


def _add_extension(sub: argparse._SubParsersAction, name: str, module: ModuleType, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text)
    module.configure(parser)
    parser.set_defaults(func=module.run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nomadsim` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SimError as err:
        print(f"nomadsim: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug: one line unless NOMADSIM_TRACEBACK is set
        if os.environ.get("NOMADSIM_TRACEBACK"):
            raise
        print(f"nomadsim: internal error: {type(err).__name__}: {err} (set NOMADSIM_TRACEBACK=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
