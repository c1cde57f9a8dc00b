"""An evaluation's scratch state is freed by reference counting as soon as the eval ends.

The stack, its scan caches, proposed state (with its port overlay) and class eligibility are
no reference cycle, so they need no garbage collection: with the collector off, every one of
them is gone once the scheduler returns (a weak reference to it is dead).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim.scheduler.feasible.stack import GenericStack, _StackBase

from .fixtures import World, group, mock_alloc, mock_job, mock_system_job


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The cyclic garbage collector off for the test: only reference counting frees objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[weakref.ref[Any]]]:
    """Weak references to every stack built, and to its parts and scan caches after each select."""
    refs: dict[str, list[weakref.ref[Any]]] = {"stack": [], "part": [], "scan cache": []}
    init = _StackBase.__init__

    def tracked_init(self: _StackBase, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        refs["stack"].append(weakref.ref(self))

    def track_parts(method: Callable[..., Any]) -> Callable[..., Any]:
        def tracked(self: _StackBase, *args: Any, **kwargs: Any) -> Any:
            out = method(self, *args, **kwargs)
            proposed = self.proposed
            refs["part"] += [weakref.ref(o) for o in (proposed, proposed.ports, self.eligibility)]
            if isinstance(self, GenericStack):
                refs["scan cache"] += [weakref.ref(c) for c in self._scan_caches.values()]
            return out
        return tracked

    monkeypatch.setattr(_StackBase, "__init__", tracked_init)
    monkeypatch.setattr(GenericStack, "select", track_parts(GenericStack.select))
    monkeypatch.setattr(_StackBase, "_select_one", track_parts(_StackBase._select_one))
    return refs


def _alive(refs: dict[str, list[weakref.ref[Any]]]) -> dict[str, int]:
    return {kind: sum(r() is not None for r in rs) for kind, rs in refs.items()}


def test_service_eval_scratch_is_freed_by_reference_counting(collector_off, scratch):
    """A placing eval (scan cache used) and an in-place update of the same job leave nothing behind."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and sum(len(a) for a in h.plans[0].node_allocation.values()) == 10
    grown = w.add_job(mock_job(lambda d: group(d).update(Count=12), job_id=job.id))
    h = w.process(w.eval_for(grown))  # 10 allocs updated in place on their nodes, 2 placed
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].in_place_update == 10
    assert len(scratch["stack"]) == 2 and scratch["scan cache"], "the scan cache served the selects"
    assert _alive(scratch) == {"stack": 0, "part": 0, "scan cache": 0}


def test_system_eval_scratch_is_freed_by_reference_counting(collector_off, scratch):
    """The system stack of an eval that places one alloc per node (and stops another job's)."""
    w = World()
    nodes = w.nodes(5)
    other = w.add_job(mock_job())
    w.add_allocs(mock_alloc(other, nodes[0]))
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job))
    assert sum(len(a) for a in h.plans[0].node_allocation.values()) == 5
    assert scratch["stack"] and scratch["part"]
    assert _alive(scratch) == {"stack": 0, "part": 0, "scan cache": 0}
