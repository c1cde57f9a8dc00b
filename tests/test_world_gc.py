"""The garbage collector while a world simulates (sim/world.py, `_fewer_collections`).

A run makes no reference cycle but the world itself, so its garbage goes by reference counting;
the collector's survivors are frozen while `run` lasts and unfrozen when it returns; `run`
leaves the thresholds in place (no collection started on return); a world's first run reclaims
the worlds dropped before it.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Generator, Iterator
from typing import Any

import pytest
import simpy
from conftest import tiny_scenario

from sim import world as world_module
from sim.simulation import Simulation
from sim.world import SIMULATING_THRESHOLDS, World


def _scenario(jobs: int = 3, count: int = 4) -> dict[str, Any]:
    """Service jobs registered a second apart on a few nodes (every placement a scan-cache select)."""
    job = lambda i: {  # noqa: E731
        "ID": f"svc-{i}", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "web", "Count": count, "Update": {"MaxParallel": 0},
                        "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "nginx"},
                                   "Resources": {"CPU": 100, "MemoryMB": 64}}]}],
    }
    return tiny_scenario(nodes=5, duration="10m", workload=[{"at": f"{i}s", "register": job(i)} for i in range(jobs)])


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector's state (enabled, thresholds, debug flags) restored after the test."""
    enabled, thresholds, debug = gc.isenabled(), gc.get_threshold(), gc.get_debug()
    try:
        yield
    finally:
        gc.set_debug(debug)
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()
        else:
            gc.disable()


def _cyclic_garbage() -> list[Any]:
    """The objects only the collector would free now (collected, as DEBUG_SAVEALL keeps them)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)


def test_a_run_makes_no_cyclic_garbage(collector):
    """With the collector off, a run's garbage (evaluations' stacks and scan caches, plans,
    replaced allocations) is freed by reference counting: the collector finds none of it."""
    Simulation.from_scenario(_scenario()).run()  # first-use work (imports, caches) out of the way
    gc.collect()
    gc.disable()
    sim = Simulation.from_scenario(_scenario())
    sim.run()
    assert len(sim.state.allocs()) == 12
    leftovers = [o for o in _cyclic_garbage() if type(o).__module__.startswith(("sim.", "simpy"))]
    assert leftovers == []


def test_survivors_are_frozen_only_while_running(collector):
    """A collection inside `run` freezes what survives it; `run` unfreezes everything on return
    and keeps the simulating thresholds (restoring them would start a collection)."""
    sim = Simulation.from_scenario(_scenario())
    seen: list[int] = []

    def probe(env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        yield env.timeout(30)
        gc.collect()
        seen.append(gc.get_freeze_count())

    sim.env.process(probe(sim.env))
    sim.run(60)
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == SIMULATING_THRESHOLDS
    sim.run()  # and again, in a later step
    assert gc.get_freeze_count() == 0 and sim.now == sim.scenario.duration


def test_objects_frozen_by_someone_else_stay_frozen(collector):
    """Whoever froze objects before the run unfreezes them: `run` neither freezes nor thaws."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        Simulation.from_scenario(_scenario(jobs=1)).run()
        assert 0 < gc.get_freeze_count() <= frozen  # some may have died since (reference counting)
    finally:
        gc.unfreeze()


def test_a_dropped_world_is_reclaimed_by_the_next_worlds_first_run(collector, monkeypatch):
    """A world is a reference cycle: the next world's first run collects it."""
    monkeypatch.setattr(world_module, "RECLAIM_NEW_WORLD", 0)
    first = Simulation.from_scenario(_scenario(jobs=1))
    first.run()
    gone = weakref.ref(first)
    del first
    second: World = Simulation.from_scenario(_scenario(jobs=1))
    assert gone() is not None  # only the collector can free it
    second.run(1)
    assert gone() is None
    second.run()  # its later runs do not collect
