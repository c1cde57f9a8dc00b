"""Giving freed memory back to the system, for the peak of a run's end (tables built after the
state is released)."""

from __future__ import annotations

import contextlib
import ctypes


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's `malloc_trim`; elsewhere nothing).
    What a released world or a handed-over column freed lies scattered over the heap, below what
    is still in use: its pages would stay resident, and the allocator of the tables built next
    (Arrow's) would not reuse them."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
