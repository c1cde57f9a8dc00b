"""Alloc names."""

from __future__ import annotations

from sim.scheduler.reconciler.names import alloc_name


def test_alloc_name():
    """Nomad: structs/funcs.go AllocName."""
    assert alloc_name("example", "cache", 3) == "example.cache[3]"
