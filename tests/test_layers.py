"""The layering of docs/architecture.md, enforced by walking every module's imports with `ast`.

Imports point down only: a module may import its own layer or a lower one. Every import counts
(module level or inside a function); imports under `if TYPE_CHECKING:` do not, as they never run.
Known violations are listed in KNOWN_VIOLATIONS with the reason they exist, and the test fails
when one is fixed but still listed, so the list only shrinks. Also checked with `ast`: no source of
nondeterminism (the `random` module, the wall clock, `datetime.now`, global numpy random, uuid4,
os.urandom) outside the real-time HTTP clock, and third-party edges (SimPy never in the pure
layers, the web stack only in the HTTP module, matplotlib only in the plot modules).

Run `python tests/test_layers.py` to print the layer table.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sim"

# (glob of the module's path from the repo root, layer); the first match wins.
LAYERS: list[tuple[str, int]] = [
    ("sim/errors.py", 0), ("sim/structs/*", 0),
    ("sim/state/*", 1), ("sim/metrics/*", 1),
    ("sim/scheduler/*", 2),
    ("sim/server/*", 3), ("sim/client/*", 3),
    ("sim/scenario/*", 4), ("sim/workload/*", 4), ("sim/world.py", 4),
    ("sim/api/*", 5), ("sim/results/*", 5), ("sim/plots/*", 5), ("sim/ui/*", 5),
    ("sim/simulation.py", 6), ("sim/experiments/*", 6),
    ("sim/cli/*", 7), ("sim/__init__.py", 7), ("sim/__main__.py", 7),
]
LAYER_NAMES = {0: "L0 structs", 1: "L1 state", 2: "L2 scheduler", 3: "L3 control plane", 4: "L4 world",
               5: "L5 facades", 6: "L6 runs", 7: "top"}

# (importer, imported) -> why it is there. Each is an upward import the layer table forbids.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

REALTIME_MODULES = {"sim.api.http", "sim.api.simclock"}  # the only wall-clock users (realtime clock)
# Wall-clock readers outside any simulation: a run's wall time (run.json only), a sweep's ETA and its
# workers' check that the sweep's process is alive. None of them decides anything in a run.
WALL_CLOCK_REPORTERS = {"sim.experiments.run", "sim.experiments.sweep", "sim.cli.sweep"}
PURE_TIME_CALLS = {"gmtime", "strftime"}  # pure conversions of a given time (never the clock)
NUMPY_RANDOM_OK = {"default_rng", "Generator", "SeedSequence", "BitGenerator", "PCG64", "PCG64DXSM",
                   "Philox", "SFC64", "MT19937"}


@dataclass(frozen=True)
class Import:
    """One import statement's target module, as written in `importer`."""

    importer: str
    target: str
    line: int
    lazy: bool  # inside a function


def module_name(path: Path) -> str:
    """sim/api/jobs.py -> sim.api.jobs; sim/api/__init__.py -> sim.api."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """The layer of a module (None when LAYERS does not place it)."""
    rel = modules()[module].relative_to(ROOT).as_posix()
    return next((layer for pattern, layer in LAYERS if fnmatch.fnmatchcase(rel, pattern)), None)


class _ImportCollector(ast.NodeVisitor):
    """Collects runtime imports of sim modules, skipping `if TYPE_CHECKING:` bodies."""

    def __init__(self, module: str, is_package: bool, type_checking: bool = False):
        self.module = module
        self.type_checking = type_checking  # also collect the imports under `if TYPE_CHECKING:`
        self.package = module if is_package else module.rpartition(".")[0]
        self.imports: list[Import] = []
        self.depth = 0

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test) and not self.type_checking:
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join(parent + ([node.module] if node.module else []))
        for alias in node.names:  # `from sim.structs import job` depends on sim.structs.job
            sub = f"{base}.{alias.name}"
            self._add(sub if sub in modules() else base, node.lineno)

    def _add(self, target: str, line: int) -> None:
        if target in modules():  # (a module that does not exist yet cannot be judged)
            self.imports.append(Import(self.module, target, line, self.depth > 0))


@cache
def tree_of(module: str) -> ast.Module:
    """The parsed source of a module."""
    return ast.parse(modules()[module].read_text(encoding="utf-8"), filename=str(modules()[module]))


def imports_of(module: str) -> list[Import]:
    """The runtime imports of sim modules in `module`."""
    collector = _ImportCollector(module, modules()[module].name == "__init__.py")
    collector.visit(tree_of(module))
    return collector.imports


def upward_imports() -> dict[tuple[str, str], Import]:
    """Every import of a higher layer, keyed by (importer, imported)."""
    out = {}
    for module in modules():
        mine = layer_of(module)
        for imp in imports_of(module):
            theirs = layer_of(imp.target)
            if mine is not None and theirs is not None and theirs > mine:
                out.setdefault((module, imp.target), imp)
    return out


def layer_table() -> str:
    """The modules of each layer, one line per layer."""
    by_layer: dict[object, list[str]] = {}
    for module in modules():
        by_layer.setdefault(layer_of(module), []).append(module)
    lines = [f"{LAYER_NAMES.get(k, 'UNPLACED')}: {', '.join(sorted(v))}"
             for k, v in sorted(by_layer.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))]
    return "\n".join(lines)


# --- layering -----------------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    """Each module under sim/ is placed in the layer table (a new module needs a placement)."""
    print("\n" + layer_table())
    assert [m for m in modules() if layer_of(m) is None] == []


def test_imports_point_down_only() -> None:
    """No module imports a higher layer, beyond the documented known violations."""
    found = upward_imports()
    new = [f"{imp.importer} (L{layer_of(imp.importer)}) imports {imp.target} (L{layer_of(imp.target)}) "
           f"at line {imp.line}{' (inside a function)' if imp.lazy else ''}"
           for key, imp in sorted(found.items()) if key not in KNOWN_VIOLATIONS]
    assert new == []


def test_known_violations_are_still_real() -> None:
    """Every listed violation still exists (remove it from the list once fixed)."""
    stale = sorted(set(KNOWN_VIOLATIONS) - set(upward_imports()))
    assert stale == []


def test_structs_import_nothing_of_the_engine() -> None:
    """L0 (structs, errors) imports only L0: the job model stands alone."""
    for module in modules():
        if layer_of(module) == 0:
            assert {layer_of(i.target) for i in imports_of(module)} <= {0}, module


def _third_party(module: str) -> set[str]:
    """Top-level names of every non-sim package the module imports at run time (any depth)."""
    out = set()
    for node in ast.walk(tree_of(module)):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"sim"}


def test_pure_layers_never_import_simpy() -> None:
    """structs, state and scheduler are pure: no SimPy (the scheduler gets `now`, never a clock)."""
    offenders = [m for m in modules() if (layer_of(m) or 0) <= 2 and "simpy" in _third_party(m)]
    assert offenders == []


@pytest.mark.parametrize(("package", "allowed"), [
    ("starlette", {"sim.api.http", "sim.api.routes", "sim.ui.web"}), ("uvicorn", {"sim.api.http", "sim.ui.web"}),
    ("matplotlib", {m for m in modules() if m.startswith("sim.plots.")}),
])
def test_heavy_dependencies_stay_at_their_edge(package: str, allowed: set[str]) -> None:
    """The web stack only in the HTTP modules (API and web view); matplotlib only in the plot modules."""
    users = {m for m in modules() if package in _third_party(m)}
    assert users <= allowed


# --- cycles -------------------------------------------------------------------------------------


def all_imports(module: str) -> set[str]:
    """Every sim module `module` imports: module level, in functions and under TYPE_CHECKING."""
    collector = _ImportCollector(module, modules()[module].name == "__init__.py", type_checking=True)
    collector.visit(tree_of(module))
    return {i.target for i in collector.imports if i.target != module}


def import_cycles() -> list[list[str]]:
    """The strongly connected groups of two or more modules in the import graph."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules())
    graph.add_edges_from((m, target) for m in modules() for target in all_imports(m))
    return sorted(sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1)


def test_no_import_cycles() -> None:
    """No two files import each other, directly or through others, at run time or for type checking."""
    assert import_cycles() == []


def test_cycle_check_sees_type_checking_and_function_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cycle closed only by a TYPE_CHECKING import or an import inside a function is still a cycle."""
    sources = {"sim.errors": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.structs import job\n",
               "sim.structs.job": "def f():\n    import sim.errors\n"}
    monkeypatch.setattr(f"{__name__}.tree_of", lambda m: ast.parse(sources.get(m, "")))
    assert import_cycles() == [["sim.errors", "sim.structs.job"]]


# --- nondeterminism -----------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for an attribute chain on a name ("" otherwise)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the module or object it stands for (`np` -> numpy, `dt` -> datetime, ...)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def nondeterminism(module: str) -> list[str]:
    """Uses of the random module, the wall clock, datetime.now, global numpy random, uuid4, urandom."""
    tree = tree_of(module)
    names = _aliases(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                if mod.split(".")[0] in ("random", "secrets"):
                    out.append(f"line {node.lineno}: imports {mod}")
            if isinstance(node, ast.ImportFrom) and node.module == "time":
                out += [f"line {node.lineno}: from time import {a.name}" for a in node.names if a.name not in PURE_TIME_CALLS]
            if isinstance(node, ast.ImportFrom) and node.module == "numpy.random":
                out += [f"line {node.lineno}: numpy.random.{a.name}" for a in node.names if a.name not in NUMPY_RANDOM_OK]
        if not isinstance(node, ast.Attribute):
            continue
        dotted = _dotted(node)
        head, _, rest = dotted.partition(".")
        full = f"{names.get(head, head)}.{rest}" if rest else names.get(head, head)
        out += _judge(full, node)
    return out


def _judge(full: str, node: ast.Attribute) -> list[str]:
    """Whether one resolved attribute chain (`numpy.random.rand`) reads randomness or the clock."""
    line = f"line {node.lineno}: {full}"
    if full.startswith("time.") and full.count(".") == 1 and node.attr not in PURE_TIME_CALLS:
        return [line]
    if full.startswith("numpy.random.") and full.count(".") == 2 and node.attr not in NUMPY_RANDOM_OK:
        return [line]
    if full.startswith("datetime.") and node.attr in ("now", "utcnow", "today"):
        return [line]
    if full in ("uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom"):
        return [line]
    return []


def test_no_randomness_or_wall_clock_outside_the_realtime_clock() -> None:
    """Only the seeded numpy Generators and simulated time drive a run (docs/architecture.md#conventions, convention 6)."""
    found = {m: nondeterminism(m) for m in modules() if m not in REALTIME_MODULES | WALL_CLOCK_REPORTERS}
    assert {m: v for m, v in found.items() if v} == {}


def test_pure_time_conversions_need_an_argument() -> None:
    """time.gmtime()/strftime without a time read the clock; with one they are pure."""
    bad = []
    for module in modules():
        if module in REALTIME_MODULES:
            continue
        names = _aliases(tree_of(module))
        for node in ast.walk(tree_of(module)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                head = _dotted(node.func).partition(".")[0]
                if names.get(head) == "time" and node.func.attr == "gmtime" and not node.args:
                    bad.append(f"{module}:{node.lineno}")
                if names.get(head) == "time" and node.func.attr == "strftime" and len(node.args) < 2:
                    bad.append(f"{module}:{node.lineno}")
    assert bad == []


SAMPLES = {
    "import random": ["imports random"],
    "from random import choice": ["imports random"],
    "import time\nx = time.time()": ["time.time"],
    "import time\nx = time.gmtime(0)": [],
    "from time import monotonic": ["from time import monotonic"],
    "import datetime as dt\nx = dt.datetime.now()": ["datetime.datetime.now"],
    "from datetime import datetime\nx = datetime.utcnow()": ["datetime.datetime.utcnow"],
    "import numpy as np\nx = np.random.rand(3)": ["numpy.random.rand"],
    "import numpy as np\nx = np.random.default_rng(1)": [],
    "import uuid\nx = uuid.uuid4()": ["uuid.uuid4"],
}


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_nondeterminism_detector_on_samples(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector flags each forbidden form and passes the allowed ones."""
    monkeypatch.setattr(f"{__name__}.tree_of", lambda _m: ast.parse(source))
    found = nondeterminism("sample")
    assert len(found) == len(SAMPLES[source])
    assert all(any(want in f for f in found) for want in SAMPLES[source])


def test_import_collector_resolves_relative_and_lazy_imports_and_skips_type_checking() -> None:
    """Relative imports resolve to modules; function-level imports count; TYPE_CHECKING ones do not."""
    source = ("from typing import TYPE_CHECKING\nfrom . import job\nfrom .consts import X\n"
              "if TYPE_CHECKING:\n    from sim.simulation import Simulation\n"
              "def f():\n    from sim.state.store import StateStore\n")
    collector = _ImportCollector("sim.structs.alloc", is_package=False)
    collector.visit(ast.parse(source))
    got = {(i.target, i.lazy) for i in collector.imports}
    assert got == {("sim.structs.job", False), ("sim.structs.consts", False), ("sim.state.store", True)}


if __name__ == "__main__":
    print(layer_table())
