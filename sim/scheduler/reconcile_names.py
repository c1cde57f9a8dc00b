"""Choosing alloc name indexes: lowest free first for placements, highest first for stops.

Nomad: scheduler/reconciler/allocs.go, AllocNameIndex (a bitmap of used indexes plus a count of
duplicated ones). A set of used indexes behaves the same as the bitmap here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sim.scheduler.util import alloc_name
from sim.structs.alloc import Allocation


class AllocNameIndex:
    """Used name indexes of one task group. Nomad: reconciler.AllocNameIndex."""

    __slots__ = ("job_id", "group", "count", "used", "duplicates")

    def __init__(self, job_id: str, group: str, count: int, allocs: Iterable[Allocation]) -> None:
        self.job_id = job_id
        self.group = group
        self.count = count
        self.used: set[int] = set()
        self.duplicates: dict[int, int] = {}
        for alloc in allocs:
            idx = alloc.index()
            if idx in self.used:
                self.duplicates[idx] = self.duplicates.get(idx, 0) + 1
            else:
                self.used.add(idx)

    def _name(self, idx: int) -> str:
        return alloc_name(self.job_id, self.group, idx)

    def _free(self) -> list[int]:
        return [i for i in range(self.count) if i not in self.used]

    def highest(self, n: int) -> set[str]:
        """Release and return the names of the `n` highest used indexes. Nomad: Highest."""
        chosen = sorted(self.used, reverse=True)[: max(n, 0)]
        self.used.difference_update(chosen)
        return {self._name(i) for i in chosen}

    def unset_index(self, idx: int) -> None:
        """Mark one use of `idx` free (a duplicate use first). Nomad: UnsetIndex."""
        if idx in self.duplicates:
            self.duplicates[idx] -= 1
            if self.duplicates[idx] == 0:
                del self.duplicates[idx]
        else:
            self.used.discard(idx)

    def next(self, n: int) -> list[str]:
        """Names for `n` new placements: free indexes below Count, then reused low ones.

        Nomad: AllocNameIndex.Next.
        """
        names: list[str] = []
        for idx in self._free()[: max(n, 0)]:
            names.append(self._name(idx))
            self.used.add(idx)
        for idx in range(n - len(names)):
            names.append(self._name(idx))
            self.used.add(idx)
        return names

    def next_canaries(
        self, n: int, existing: Iterable[Allocation], destructive: Iterable[Allocation]
    ) -> list[str]:
        """Names for `n` canaries, avoiding the names of existing canaries.

        Prefers the indexes of allocs being destructively updated, then free indexes below
        Count, then indexes from Count upwards (those are stopped again after promotion).
        Nomad: AllocNameIndex.NextCanaries.
        """
        taken = {a.name for a in existing}
        names: list[str] = []
        preferred = sorted({a.index() for a in destructive if 0 <= a.index() < self.count})
        for idx in preferred + self._free():
            if len(names) == n:
                return names
            name = self._name(idx)
            if name not in taken and name not in names:
                names.append(name)
                self.used.add(idx)
        names.extend(self._name(i) for i in range(self.count, self.count + n - len(names)))
        return names
