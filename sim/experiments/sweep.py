"""Parameter sweeps: many runs of one scenario, on a local process pool or a Dask cluster.

`sweep()` runs the cartesian product of factor values (any scenario key, as a dotted path) times
the seeds, one run per combination, and returns one tidy row per run: `run_id`, the factor
values, `seed`, `status` ("complete" or "failed"), `error`, then the run's KPIs (sim.results.kpis).
Each run keeps its results folder under `out/<run_id>/` (sim.results.folder layout, plus the run's
identity in sweep_run.json). A run's id is a digest of what defines it (the base scenario's text, the
overrides, the seed, the stop time), so a sweep started again over the same folder skips the runs
already finished (complete or failed) and recomputes only the others; its table is then the same
as an uninterrupted sweep's. A run that raises is recorded as failed with its error and does not
stop the sweep.

Executors: "serial" (this process), "local" (a process pool of `workers` spawned processes;
one worker runs in this process), "dask" (a LocalCluster of `workers` processes on this machine),
a `distributed.Client`, or a scheduler address such as "tcp://host:8786" (the workers must see the
same `out` folder and scenario files, e.g. on a shared filesystem, and have nomadsim installed).
Every executor runs the module-level `run_one(spec)` on plain-dict specs, so the tables agree.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import SimError

FINISHED = ("complete", "failed")
ATTEMPTS = 3  # pool rounds: runs lost with a dead worker are retried twice before counting as failed
PARENT_POLL = 1.0  # seconds between a worker's checks that the sweep's process is alive
IDENTITY = "sweep_run.json"  # a run folder's identity file
ROW_KEYS = ("run_id", "seed", "status", "error")
Spec = dict[str, Any]
Row = dict[str, Any]


# -- specs --------------------------------------------------------------------------------------


def source_fields(base: str | Path | Mapping[str, Any], base_dir: str | Path | None = None) -> dict[str, Any]:
    """How a run finds its scenario: an absolute file path, or a mapping and its base folder."""
    if isinstance(base, Mapping):
        return {"source": json.loads(json.dumps(dict(base))), "base_dir": str(Path(base_dir or ".").resolve())}
    path = Path(base).resolve()
    if not path.is_file():
        raise SimError(f"scenario not found: {base}")
    return {"source": str(path), "base_dir": None}


def _source_text(source: Any) -> str:
    if isinstance(source, str):
        return Path(source).read_text(encoding="utf-8")
    return json.dumps(source, sort_keys=True)


def digest(spec: Spec) -> str:
    """A stable digest of what defines a run: scenario text, base folder, overrides, seed, until."""
    ident = {
        "scenario": _source_text(spec["source"]), "base_dir": spec.get("base_dir"),
        "overrides": spec["overrides"], "seed": spec["seed"], "until": spec.get("until"),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def make_spec(fields: Mapping[str, Any], overrides: Mapping[str, Any], seed: int, out: str | Path,
              run_id: str | None = None, labels: Mapping[str, Any] | None = None,
              factors: Mapping[str, Any] | None = None, until: float | None = None) -> Spec:
    """One run's spec (a plain, picklable dict); the run id defaults to `s<seed>-<digest>`."""
    spec: Spec = {**fields, "overrides": dict(overrides), "seed": int(seed), "until": until,
                  "labels": dict(labels or {}), "factors": dict(factors or {})}
    spec["digest"] = digest(spec)
    spec["run_id"] = run_id or f"s{seed}-{spec['digest'][:10]}"
    spec["out"] = str(Path(out) / spec["run_id"])
    return spec


def expand(base: str | Path | Mapping[str, Any], factors: Mapping[str, Sequence[Any]], seeds: Iterable[int],
           out: str | Path, fixed: Mapping[str, Any] | None = None, base_dir: str | Path | None = None,
           until: float | None = None) -> list[Spec]:
    """The sweep's specs: the cartesian product of the factors (in the order given) times the seeds."""
    fields = source_fields(base, base_dir)
    keys = list(factors)
    for key in keys:
        if key in ROW_KEYS:
            raise SimError(f"factor {key!r}: not a scenario key to sweep (use the seeds for seeds)")
        if isinstance(factors[key], str | bytes) or not isinstance(factors[key], Sequence) or not factors[key]:
            raise SimError(f"factor {key!r}: expected a non-empty list of values")
    specs = []
    for values in itertools.product(*(factors[k] for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        for seed in seeds:
            specs.append(make_spec(fields, {**(fixed or {}), **combo}, seed, out, factors=combo, until=until))
    ids = [s["run_id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise SimError("two runs of the sweep are identical (a factor or seed value is repeated)")
    return specs


def check_factors(factors: Mapping[str, Any], fixed: Mapping[str, Any] | None = None) -> None:
    """Every factor and fixed override names a scenario key: a misspelt one fails before any run.

    Values are not checked here: an invalid value fails its own runs, recorded in the table.
    """
    from sim.scenario.load import check_key

    for key in [*factors, *(fixed or {})]:
        try:
            check_key(key)
        except SimError as err:
            raise SimError(f"sweep factor {err}") from None


# -- one run (executed on a worker) -------------------------------------------------------------


def run_one(spec: Spec) -> Row:
    """Run one spec and write its results folder; never raises for a failing simulation.

    The folder is `nomadsim run`'s (sim.experiments.run.run_to_folder) plus `sweep_run.json`, the run's
    identity (id, digest, labels, factors, overrides) that a resumed sweep checks.
    """
    from sim.experiments.run import RunFailed, RunInterrupted, run_to_folder
    from sim.results.folder import write_config, write_failure
    from sim.scenario.load import load_scenario

    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / IDENTITY).write_text(json.dumps(_identity(spec), indent=2, sort_keys=True, default=str) + "\n")
    try:
        scenario = load_scenario(spec["source"], spec["overrides"], base_dir=spec.get("base_dir"))
        summary, _ = run_to_folder(scenario, out, seed=spec["seed"], until=spec.get("until"), overwrite=True)
    except RunFailed as failed:  # a failed run is data: recorded, and the sweep goes on
        return make_row(spec, "failed", _error_line(failed.error), {})
    except RunInterrupted:  # Ctrl-C: the sweep stops (the folder says interrupted: a resume reruns it)
        raise KeyboardInterrupt from None
    except Exception as err:  # the scenario did not load
        write_config(out, {}, {"seed": spec["seed"], "status": "running"})
        write_failure(out, err)
        return make_row(spec, "failed", _error_line(err), {})
    return make_row(spec, "complete", "", _plain(summary))


def _identity(spec: Spec) -> dict[str, Any]:
    keys = ("run_id", "digest", "seed", "labels", "factors", "overrides")
    return {k: spec[k] for k in keys}


def _error_line(err: BaseException) -> str:
    """`Type: message`, first line only (as run.json's error starts)."""
    return _first_line(f"{type(err).__name__}: {err}")


def _plain(summary: Mapping[str, Any]) -> dict[str, float]:
    """The KPIs as summary.json stores them and reads back (non-finite values become NaN)."""
    return {k: (math.nan if v is None or not math.isfinite(v) else float(v)) for k, v in summary.items()}


def make_row(spec: Spec, status: str, error: str, kpis: Mapping[str, float]) -> Row:
    """One table row: run id, labels, factor values, seed, status, error, KPIs (sorted by name)."""
    return {"run_id": spec["run_id"], **spec["labels"], **spec["factors"], "seed": spec["seed"],
            "status": status, "error": error, **{k: kpis[k] for k in sorted(kpis)}}


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def finished_row(spec: Spec) -> Row | None:
    """The row of a run already finished in its folder with the same digest, else None."""
    from sim.results.folder import read_summary

    out = Path(spec["out"])
    try:
        run = json.loads((out / "run.json").read_text())
        identity = json.loads((out / IDENTITY).read_text())
    except (OSError, ValueError):
        return None
    if identity.get("digest") != spec["digest"] or run.get("status") not in FINISHED:
        return None
    if run["status"] == "failed":
        return make_row(spec, "failed", _first_line(str(run.get("error") or "")), {})
    try:
        summary = read_summary(out)
    except (OSError, ValueError):
        return None
    return make_row(spec, "complete", "", _plain(summary))


# -- executors ----------------------------------------------------------------------------------


def execute(specs: Sequence[Spec], executor: Any = "local", workers: int | None = None,
            on_result: Callable[[Row], None] | None = None) -> list[Row]:
    """Run the specs on an executor; rows come back in the specs' order."""
    if not specs:
        return []
    workers = max(1, workers or min(len(specs), os.cpu_count() or 1))
    report = on_result or (lambda row: None)
    if executor == "serial" or (executor == "local" and (workers == 1 or len(specs) == 1)):
        return [_reported(run_one(s), report) for s in specs]
    if executor == "local":
        return _pool(specs, workers, report)
    return _dask(specs, executor, workers, report)


def _reported(row: Row, report: Callable[[Row], None]) -> Row:
    report(row)
    return row


def _lost(spec: Spec, err: BaseException) -> Row:
    """The row of a run whose worker died (not written to its folder, so a resume reruns it)."""
    return make_row(spec, "failed", f"worker lost: {type(err).__name__}: {err}", {})


def _pool(specs: Sequence[Spec], workers: int, report: Callable[[Row], None]) -> list[Row]:
    """Run the specs on a pool; runs lost with a dead worker are retried on a fresh pool (ATTEMPTS rounds)."""
    rows: dict[int, Row] = {}  # spec index -> its row, in completion order
    todo = list(range(len(specs)))
    for attempt in range(1, ATTEMPTS + 1):
        todo = _pool_round(specs, todo, workers, rows, report, last=attempt == ATTEMPTS)
        if not todo:
            break
    return [rows[i] for i in range(len(specs))]


def _pool_round(specs: Sequence[Spec], todo: list[int], workers: int, rows: dict[int, Row],
                report: Callable[[Row], None], last: bool) -> list[int]:
    """One pool over `todo`; returns the indices lost with a broken pool (recorded as failed if `last`).

    Interrupted (KeyboardInterrupt, SystemExit), it terminates its workers before re-raising: no
    run goes on in the background and no process is left behind.
    """
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context,
                               initializer=_worker_init, initargs=(os.getpid(),))
    lost: list[int] = []
    try:
        futures = {pool.submit(run_one, specs[i]): i for i in todo}
        for future in as_completed(futures):
            i = futures[future]
            try:
                rows[i] = future.result()
            except BrokenProcessPool as err:  # a worker died: this run (or one queued behind it) is lost
                if not last:
                    lost.append(i)
                    continue
                rows[i] = _lost(specs[i], err)
            report(rows[i])
    except BaseException:
        _terminate(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(lost)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (their runs stay unfinished in their folders; a resume reruns them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the executor keeps no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _worker_init(parent: int) -> None:
    """In each pool worker: Ctrl-C is the parent's to handle, and the worker exits when its parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)  # the sweep's process is gone (killed): never run on as an orphan


def _dask(specs: Sequence[Spec], executor: Any, workers: int, report: Callable[[Row], None]) -> list[Row]:
    client, close = dask_client(executor, workers)
    from distributed import as_completed as dask_completed  # importable: dask_client checked it

    try:
        futures = client.map(run_one, list(specs), pure=False, retries=ATTEMPTS - 1)
        index = {f.key: i for i, f in enumerate(futures)}
        rows: dict[int, Row] = {}  # spec index -> its row, in completion order
        try:
            for future in dask_completed(futures):
                i = index[future.key]
                try:
                    rows[i] = future.result()
                except Exception as err:
                    rows[i] = _lost(specs[i], err)
                report(rows[i])
        except BaseException:
            client.cancel(futures)
            raise
        return [rows[i] for i in range(len(specs))]
    finally:
        close()


def dask_client(executor: Any, workers: int) -> tuple[Any, Callable[[], None]]:
    """A Dask client for `executor` ("dask": a new LocalCluster; an address; a Client) and its closer."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SimError("running on Dask needs the dask extra: pip install 'nomadsim[dask]'") from None

    if isinstance(executor, Client):
        return executor, lambda: None
    if executor == "dask":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    if isinstance(executor, str) and executor:
        client = Client(executor)
        return client, client.close
    raise SimError(f"unknown executor {executor!r}: use 'local', 'serial', 'dask', a Client or an address")


# -- the sweep ----------------------------------------------------------------------------------


def run_specs(specs: Sequence[Spec], executor: Any = "local", workers: int | None = None, resume: bool = True,
              retry_failed: bool = False, on_result: Callable[[Row], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Run the specs not already finished (with `resume`), then the table of every spec, in order.

    `on_start(to_run, already_finished)` is called once before the first run starts.
    """
    rows: list[Row | None] = [None] * len(specs)
    todo = []
    for i, spec in enumerate(specs):
        done = finished_row(spec) if resume else None
        if done is not None and not (retry_failed and done["status"] == "failed"):
            rows[i] = done
        else:
            todo.append(i)
    if on_start is not None:
        on_start(len(todo), len(specs) - len(todo))
    fresh = execute([specs[i] for i in todo], executor, workers, on_result)
    for i, row in zip(todo, fresh, strict=True):
        rows[i] = row
    return table(rows)  # type: ignore[arg-type]


def table(rows: Sequence[Row]) -> pd.DataFrame:
    """The tidy sweep table: one row per run, in run order."""
    return pd.DataFrame(list(rows)).reset_index(drop=True)


def sweep(base_scenario: str | Path | Mapping[str, Any], factors: Mapping[str, Sequence[Any]],
          seeds: Iterable[int] = (1,), executor: Any = "local", workers: int | None = None,
          out: str | Path = "results/sweep", *, fixed: Mapping[str, Any] | None = None,
          base_dir: str | Path | None = None, until: float | None = None, resume: bool = True,
          retry_failed: bool = False, on_result: Callable[[Row], None] | None = None,
          on_start: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Run a scenario over the cartesian product of `factors` times `seeds`; the table of runs.

    Every factor name is checked against the scenario schema before any run starts. A
    KeyboardInterrupt stops the sweep at once (workers terminated); started again, it resumes.

    Args:
        base_scenario: a scenario file or mapping.
        factors: dotted scenario key -> the values it takes (`{"control_plane.num_schedulers": [1, 2]}`).
        seeds: one run per seed per combination.
        executor: "local" (process pool), "serial", "dask" (a LocalCluster), a Client or an address.
        workers: processes of the pool or LocalCluster (default: one per CPU, at most one per run).
        out: the sweep's folder; run folders go under it, and the table to `out/sweep.csv`.
        fixed: overrides applied to every run (factors win on the same key).
        base_dir: where a mapping scenario's relative files are found.
        until: simulated seconds to stop at (default: the scenario's duration).
        resume: skip runs already finished in `out` (same digest).
        retry_failed: with resume, rerun the runs that failed.
        on_result: called with each fresh row as its run ends.
        on_start: called with (runs to do, runs already finished) before the first run.

    Raises:
        SimError: a factor or override names no scenario key.
    """
    check_factors(factors, fixed)
    specs = expand(base_scenario, factors, list(seeds), out, fixed, base_dir, until)
    frame = run_specs(specs, executor, workers, resume, retry_failed, on_result, on_start)
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "sweep.csv", index=False)
    return frame
