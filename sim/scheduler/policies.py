"""Custom ranking policies: Python callables that score candidate nodes, vectorised.

A policy is a function `policy(nodes, ask) -> scores` named in a scenario as
`control_plane.policy: "module:function"` (the built-ins also answer to `random`, `worst-fit`,
`tetris` and `gpu-pack`). The simulation loads it once (`load_policy`) and the generic stack (service and
batch jobs) calls it once per chunk of candidates the limit iterator pulls (usually once per
placement), with:

- `nodes`, a `Candidates` mapping of numpy arrays aligned with the nodes that passed every
  feasibility stage and fit (ports and resources): `row`, `id`, `name`, `datacenter`,
  `node_class`, `node_pool`; `cpu_capacity`, `memory_capacity`, `disk_capacity` (net of reserved);
  `cpu_used`, `memory_used`, `disk_used` (the proposed usage before this placement: the state's
  allocs plus the plan so far); `gpu_capacity`, `gpu_used` (device instances of type "gpu", the
  same way); `binpack` (Nomad's fit score of this placement, in [0, 1]); and
  each column the policy declares in `columns` (`meta.<key>`, `attr.<key>`: strings, "" where
  unset). `nodes.frame()` gives a pandas DataFrame of the same columns.
- `ask`, a `GroupAsk`: the job and task group (`job_id`, `job_type`, `priority`, `group`,
  `count`), its resource ask (`cpu`, `memory`, `disk`, `gpus`: the GPU instances its tasks ask
  for) and `rng`, the scheduler's random stream
  (draw from it and only it, so runs stay reproducible).

It returns one score per candidate (any array-like of floats) in [-1, 1]. Where it goes in
Nomad's ranking chain depends on the policy's `mode` (set with the `@policy` decorator):

- `"append"` (default): one more scorer after spread, just before ScoreNormalizationIterator.
  The score is appended for every candidate (like node affinity), so the final score is the mean
  of binpack, [job anti-affinity], [reschedule penalty], [node affinity], [spread] and the
  policy's score. Recorded in the alloc's score metadata under the policy's name.
- `"fit"`: replaces the BinPack fitness score (as `scheduler_algorithm: spread` replaces
  ScoreFitBinPack with ScoreFitSpread); the rest of the chain and normalisation are unchanged.

Everything after normalisation keeps Nomad's semantics: the limit iterator looks at `limit`
options (2 for batch jobs, ceil(log2 n) for services, at least 100 with affinities or spreads),
setting aside up to 3 options scoring <= 0 while better ones may follow, and MaxScore picks the
highest final score (the first seen on ties). A policy therefore steers placement among the
nodes the scan visits; to keep nodes away, give them negative scores (they are set aside).
System jobs do not use policies (their stack places on every feasible node).

A policy that raises, or returns the wrong shape, non-finite or out-of-range scores, fails the
run with a SimError naming the policy.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from sim.errors import SimError
from sim.state.node_table import GPU_TYPE
from sim.structs.devices import group_devices

if TYPE_CHECKING:
    from sim.state.node_table import NodeTable
    from sim.structs.job import Job, TaskGroup

MODES = ("append", "fit")
BASE_COLUMNS = ("row", "id", "name", "datacenter", "node_class", "node_pool",
                "cpu_capacity", "memory_capacity", "disk_capacity",
                "cpu_used", "memory_used", "disk_used", "binpack")
_STRING_COLUMNS = {"id": "${node.unique.id}", "name": "${node.unique.name}",
                   "datacenter": "${node.datacenter}", "node_class": "${node.class}", "node_pool": "${node.pool}"}


@dataclass(frozen=True, slots=True)
class GroupAsk:
    """What is being placed: the job, the task group, its resource ask, and the scheduler rng."""

    job_id: str
    job_type: str
    priority: int
    group: str
    count: int
    cpu: float
    memory: float
    disk: float
    rng: np.random.Generator
    gpus: int = 0  # device instances of type "gpu" the group's tasks ask for

    @property
    def vector(self) -> npt.NDArray[np.float64]:
        """(cpu, memory, disk) as a float array."""
        return np.array([self.cpu, self.memory, self.disk], dtype=np.float64)


class Candidates(Mapping[str, np.ndarray]):
    """Columns of the candidate nodes (numpy arrays of equal length), built lazily on access."""

    __slots__ = ("_columns", "_lazy", "_n")

    def __init__(self, n: int, columns: dict[str, np.ndarray], lazy: dict[str, Callable[[], np.ndarray]]) -> None:
        self._n = n
        self._columns = columns
        self._lazy = lazy

    def __getitem__(self, key: str) -> np.ndarray:
        value = self._columns.get(key)
        if value is None:
            if key not in self._lazy:
                raise KeyError(f"no candidate column {key!r} (declare meta/attr columns in the policy's `columns`)")
            value = self._columns[key] = self._lazy[key]()
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._columns) + [k for k in self._lazy if k not in self._columns])

    def __len__(self) -> int:
        return len(self._columns) + sum(1 for k in self._lazy if k not in self._columns)

    @property
    def size(self) -> int:
        """The number of candidate nodes."""
        return self._n

    def frame(self) -> pd.DataFrame:
        """Every column as a pandas DataFrame (one row per candidate)."""
        return pd.DataFrame({key: self[key] for key in self})


PolicyFn = Callable[[Candidates, GroupAsk], npt.ArrayLike]
"""A policy function: the candidates and the ask in, one score per candidate out."""
_Fn = TypeVar("_Fn", bound=PolicyFn)


def policy(*, columns: tuple[str, ...] | list[str] = (), mode: str = "append",
           name: str | None = None) -> Callable[[_Fn], _Fn]:
    """Decorator declaring a policy's extra node columns, its place in the chain and its name.

    Args:
        columns: node columns to add, as `meta.<key>` or `attr.<key>`.
        mode: "append" (an extra scorer before normalisation) or "fit" (replaces BinPack's score).
        name: the scorer name in score metadata (default: the function's name).
    """
    if mode not in MODES:
        raise SimError(f"policy mode must be one of {', '.join(MODES)}, not {mode!r}")
    for col in columns:
        _target(col)

    def mark(fn: _Fn) -> _Fn:
        marks = {"policy_columns": tuple(columns), "policy_mode": mode, "policy_name": name or fn.__name__}
        for attr, value in marks.items():  # read back by Policy
            setattr(fn, attr, value)
        return fn

    return mark


def _target(column: str) -> str:
    """The NodeTable target of a declared column (`meta.rack` -> `${meta.rack}`)."""
    kind, _, key = column.partition(".")
    if kind not in ("meta", "attr") or not key:
        raise SimError(f"policy column {column!r}: use 'meta.<key>' or 'attr.<key>'")
    return f"${{{kind}.{key}}}"


class Policy:
    """A loaded policy: the callable, its name, mode and columns; scores candidates for the stack."""

    __slots__ = ("fn", "name", "mode", "columns", "spec")

    def __init__(self, fn: PolicyFn, spec: str = "") -> None:
        self.fn = fn
        self.spec: str = spec or getattr(fn, "__qualname__", repr(fn))
        self.name: str = getattr(fn, "policy_name", getattr(fn, "__name__", "policy"))
        self.mode: str = getattr(fn, "policy_mode", "append")
        self.columns: tuple[str, ...] = tuple(getattr(fn, "policy_columns", ()))
        if self.mode not in MODES:
            raise SimError(f"policy {self.spec!r}: mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    @property
    def replaces_fit(self) -> bool:
        """Whether the score stands in BinPack's place rather than being appended."""
        return self.mode == "fit"

    def __repr__(self) -> str:
        return f"Policy({self.spec!r}, mode={self.mode!r})"

    def score(self, table: NodeTable, rows: npt.NDArray[np.int64], used_after: npt.NDArray[np.float64],
              cap: npt.NDArray[np.float64], binpack: npt.NDArray[np.float64], job: Job, tg: TaskGroup,
              ask: npt.NDArray[np.float64], count: int, rng: np.random.Generator,
              gpu_used: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.float64]:
        """The policy's scores for the fitting candidate `rows` of a NodeTable (checked).

        Args:
            table: the NodeTable; rows: candidate rows; used_after, cap: (n, 3) proposed usage with
            this placement, and capacity; binpack: Nomad's fit scores; job, tg: the Job and
            TaskGroup; ask: its (cpu, memory, disk); count: the group's count; rng: scheduler stream;
            gpu_used: the proposed GPU instances held per node (default: the table's).

        Raises:
            SimError: naming the policy, when it raises or returns bad scores.
        """
        group = group_ask(job, tg, ask, count, rng)
        nodes = self.candidates(table, rows, used_after, cap, binpack, group, gpu_used)
        try:
            raw = self.fn(nodes, group)
        except SimError as err:
            raise SimError(f"policy {self.spec!r} failed: {err}") from err
        except Exception as err:
            raise SimError(f"policy {self.spec!r} failed: {type(err).__name__}: {err}") from err
        return self._check(raw, len(rows))

    def candidates(self, table: NodeTable, rows: npt.NDArray[np.int64], used_after: npt.NDArray[np.float64],
                   cap: npt.NDArray[np.float64], binpack: npt.NDArray[np.float64], ask: GroupAsk,
                   gpu_used: npt.NDArray[np.int64] | None = None) -> Candidates:
        """The candidate table handed to the policy."""
        used = used_after - ask.vector
        columns = {
            "row": rows, "cpu_capacity": cap[:, 0], "memory_capacity": cap[:, 1], "disk_capacity": cap[:, 2],
            "cpu_used": used[:, 0], "memory_used": used[:, 1], "disk_used": used[:, 2], "binpack": binpack,
        }
        lazy = {key: _column_getter(table, target, rows) for key, target in _STRING_COLUMNS.items()}
        lazy["gpu_capacity"] = lambda: table.gpu_total[rows]
        lazy["gpu_used"] = lambda: (table.gpu_used if gpu_used is None else gpu_used)[rows]
        for col in self.columns:
            lazy[col] = _column_getter(table, _target(col), rows)
        return Candidates(len(rows), columns, lazy)

    def _check(self, raw: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
        try:
            scores = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise SimError(f"policy {self.spec!r} returned {type(raw).__name__}, not an array of scores: {err}") from None
        if scores.shape != (n,):
            raise SimError(f"policy {self.spec!r} returned shape {scores.shape}, expected ({n},): one score per candidate")
        if not np.isfinite(scores).all():
            raise SimError(f"policy {self.spec!r} returned non-finite scores")
        if n and (scores.min() < -1.0 or scores.max() > 1.0):
            raise SimError(f"policy {self.spec!r} returned scores outside [-1, 1] "
                           f"(min {scores.min():g}, max {scores.max():g})")
        return scores


def _column_getter(table: NodeTable, target: str, rows: npt.NDArray[np.int64]) -> Callable[[], np.ndarray]:
    return lambda: table.column(target)[0][rows]


# -- loading ------------------------------------------------------------------------------------


def load_policy(spec: str | PolicyFn | Policy | None, search: Sequence[str | Path] = ()) -> Policy | None:
    """A policy from `module:function`, a built-in name, or a callable; None for "" or None.

    A module that is not importable is looked for as a file under each folder of `search`
    (`mypolicies` -> `<folder>/mypolicies.py`, `pkg.mod` -> `<folder>/pkg/mod.py`), in order.

    Raises:
        SimError: the module or function cannot be found, or is not callable.
    """
    if spec is None or spec == "":
        return None
    if isinstance(spec, Policy):
        return spec
    if callable(spec):
        return Policy(spec)
    if spec in BUILTINS:
        return Policy(BUILTINS[spec], spec)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SimError(f"policy {spec!r}: expected 'module:function' or one of {', '.join(sorted(BUILTINS))}")
    module = _import(spec, module_name, [Path(p) for p in search])
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise SimError(f"policy {spec!r}: module {module_name!r} has no function {attr!r}")
    return Policy(fn, spec)


def _import(spec: str, module_name: str, search: list[Path]) -> ModuleType:
    """The module: importable, or a file found under one of the `search` folders."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name.split(".")[0] and err.name != module_name:
            raise SimError(f"policy {spec!r}: cannot import module {module_name!r}: {err}") from None
        missing = err
    except ImportError as err:
        raise SimError(f"policy {spec!r}: cannot import module {module_name!r}: {err}") from None
    relative = Path(*module_name.split(".")).with_suffix(".py")
    for folder in search:
        file = folder / relative
        if file.is_file():
            found = importlib.util.spec_from_file_location(module_name, file)
            if found is None or found.loader is None:  # pragma: no cover - a .py file always has a loader
                continue
            module = importlib.util.module_from_spec(found)
            sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
            found.loader.exec_module(module)
            return module
    looked = ", ".join(str(f) for f in search) or "nowhere else"
    raise SimError(f"policy {spec!r}: cannot import module {module_name!r}: {missing} "
                   f"(also looked for {relative} in {looked})")


def group_ask(job: Job, tg: TaskGroup, ask: npt.NDArray[np.float64], count: int, rng: np.random.Generator) -> GroupAsk:
    """The GroupAsk of a job's task group (ask: the (cpu, memory, disk) array)."""
    gpus = sum(r.count for _, r in group_devices(tg) if r.id_tuple()[1] == GPU_TYPE)
    return GroupAsk(job.id, job.type, job.priority, tg.name, count, float(ask[0]), float(ask[1]), float(ask[2]), rng,
                    gpus)


# -- built-in examples --------------------------------------------------------------------------


@policy(mode="fit", name="random")
def random(nodes: Candidates, ask: GroupAsk) -> npt.NDArray[np.float64]:
    """Uniform random fitness in [0, 1) from the scheduler's stream: placement ignores packing."""
    return ask.rng.random(nodes.size)


@policy(mode="fit", name="worst-fit")
def worst_fit(nodes: Candidates, ask: GroupAsk) -> npt.NDArray[np.float64]:
    """Prefer the emptiest node: the mean free fraction of cpu and memory after this placement."""
    free_cpu = 1.0 - (nodes["cpu_used"] + ask.cpu) / nodes["cpu_capacity"]
    free_mem = 1.0 - (nodes["memory_used"] + ask.memory) / nodes["memory_capacity"]
    free: npt.NDArray[np.float64] = np.clip((free_cpu + free_mem) / 2.0, 0.0, 1.0)
    return free


@policy(mode="fit", name="tetris")
def tetris(nodes: Candidates, ask: GroupAsk) -> npt.NDArray[np.float64]:
    """Tetris alignment (Grandl et al., SIGCOMM 2014): the dot product of the ask and the node's
    free vector, both as fractions of the node's capacity, over cpu and memory (and disk when
    asked), divided by the number of dimensions so it stays in [0, 1]."""
    dims = [("cpu", ask.cpu), ("memory", ask.memory)] + ([("disk", ask.disk)] if ask.disk > 0 else [])
    total = np.zeros(nodes.size)
    for dim, want in dims:
        cap = nodes[f"{dim}_capacity"]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(cap > 0, want / cap, 0.0)
            free = np.where(cap > 0, (cap - nodes[f"{dim}_used"]) / cap, 0.0)
        total += np.clip(share, 0.0, 1.0) * np.clip(free, 0.0, 1.0)
    return total / len(dims)


@policy(mode="fit", name="gpu-pack")
def gpu_pack(nodes: Candidates, ask: GroupAsk) -> npt.NDArray[np.float64]:
    """GPU-aware packing: a GPU ask prefers the node it leaves with the fewest free GPUs (best
    fit on GPUs, so whole nodes stay free for large asks); an ask without GPUs prefers nodes
    whose GPUs are already taken (or that have none), so it does not strand free GPUs behind
    used CPU and memory. Ties follow Nomad's BinPack score (a tenth of the weight)."""
    cap = nodes["gpu_capacity"].astype(np.float64)
    free = cap - nodes["gpu_used"] - ask.gpus
    with np.errstate(divide="ignore", invalid="ignore"):
        taken = np.where(cap > 0, 1.0 - free / cap, 1.0)
    score: npt.NDArray[np.float64] = np.clip(0.9 * taken + 0.1 * nodes["binpack"], 0.0, 1.0)
    return score


BUILTINS: dict[str, PolicyFn] = {
    "random": random, "worst-fit": worst_fit, "worst_fit": worst_fit, "tetris": tetris, "gpu-pack": gpu_pack,
    "gpu_pack": gpu_pack,
}
