"""Giving freed memory back to the system, for the peak of a run's end (tables built after the
state is released)."""

from __future__ import annotations

import contextlib
import ctypes

import pyarrow as pa  # type: ignore[import-untyped]


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's `malloc_trim`; elsewhere nothing),
    and Arrow's memory pool its unused memory.
    What a released world or a handed-over column freed lies scattered over the heap, below what
    is still in use: its pages would stay resident, and the allocator of the tables built next
    (Arrow's) would not reuse them."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
    pa.default_memory_pool().release_unused()
