"""Choosing alloc name indexes: lowest free first for placements, highest first for stops.

Nomad: scheduler/reconciler/allocs.go, AllocNameIndex (a bitmap of used indexes plus a count of
duplicated ones). A set of used indexes behaves the same as the bitmap here.

`AllocNameIndex.next_lazy` hands out the names of `next` as a `MissingNames` sequence whose
length is known at once and whose names are made on demand: a big group that cannot be placed
costs what the scheduler looks at, not its whole Count. An `IndexMultiset` base (the settled
allocs' names, kept incrementally by reconciler/settled.py) joins the used indexes without being
copied unless an operation other than `next_lazy` needs the merged set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from heapq import heappop, heappush
from itertools import chain, filterfalse, islice
from typing import overload

from sim.structs.alloc import Allocation


def alloc_name(job_id: str, group: str, index: int) -> str:
    """Nomad: nomad/structs/funcs.go, AllocName: "<job>.<group>[<index>]"."""
    return f"{job_id}.{group}[{index}]"


class IndexMultiset:
    """Name indexes used by a changing set of allocs: each index once in `used`, further uses
    counted in `extra`. `version` changes with every change (lazy readers check it)."""

    __slots__ = ("used", "extra", "version", "_low", "_holes", "_prune_at")

    def __init__(self) -> None:
        self.used: set[int] = set()
        self.extra: dict[int, int] = {}
        self.version = 0
        self._low = 0  # every index below it is used or in `_holes`
        self._holes: list[int] = []  # a heap of the indexes below `_low` freed since (some used again)
        self._prune_at = 1024  # `_holes` size from which the ones used again are dropped

    def add(self, idx: int) -> None:
        """Count one more use of `idx`."""
        self.version += 1
        if idx in self.used:
            self.extra[idx] = self.extra.get(idx, 0) + 1
        else:
            self.used.add(idx)

    def remove(self, idx: int) -> None:
        """Count one use of `idx` less (it must be used)."""
        self.version += 1
        more = self.extra.get(idx, 0)
        if more > 1:
            self.extra[idx] = more - 1
        elif more:
            del self.extra[idx]
        else:
            self.used.discard(idx)
            if 0 <= idx < self._low:
                heappush(self._holes, idx)

    def low(self) -> int:
        """The lowest index >= 0 not used (amortised O(log n) per change)."""
        low, used, holes = self._low, self.used, self._holes
        if len(holes) > self._prune_at:  # (a sorted list is a heap)
            holes[:] = sorted({i for i in holes if i not in used})
            self._prune_at = 2 * len(holes) + 1024
        while holes and holes[0] in used:
            heappop(holes)
        if holes:
            return holes[0]
        while low in used:
            low += 1
        self._low = low
        return low


class MissingNames(Sequence[str]):
    """The `n` names `AllocNameIndex.next(n)` returns, made on demand from a frozen used set.

    Free indexes below Count, lowest first, then reused indexes from 0. Any prefix of the
    sequence is what `next` returns for a smaller `n`, so slicing from the start stays lazy.
    With a `base` multiset its indexes are used too; the base must not change meanwhile.
    """

    __slots__ = ("job_id", "group", "group_count", "used", "n", "base", "_start", "_version")

    def __init__(
        self, job_id: str, group: str, count: int, used: set[int], n: int, base: IndexMultiset | None = None
    ) -> None:
        self.job_id, self.group, self.group_count, self.used, self.n = job_id, group, count, used, max(n, 0)
        self.base = base
        self._start = base.low() if base is not None else 0  # below it every index is taken
        self._version = base.version if base is not None else 0

    def indexes(self) -> Iterator[int]:
        """The name indexes, in order (O(k + used) for the first k)."""
        free: Iterable[int] = range(self._start, self.group_count)
        if self.base is not None:
            if self.base.version != self._version:
                raise RuntimeError("settled name indexes changed under a lazy MissingNames")
            free = filterfalse(self.base.used.__contains__, free)
        given = 0
        for idx in islice(filterfalse(self.used.__contains__, free), self.n):
            given += 1
            yield idx
        yield from range(self.n - given)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[str]:
        template = alloc_name(self.job_id, self.group, 0)[:-2].replace("{", "{{").replace("}", "}}") + "{}]"
        return map(template.format, self.indexes())  # (`alloc_name` of each index, without a frame per name)

    @overload
    def __getitem__(self, key: int) -> str: ...

    @overload
    def __getitem__(self, key: slice) -> Sequence[str]: ...

    def __getitem__(self, key: int | slice) -> str | Sequence[str]:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n)
            if start == 0 and step == 1:
                return MissingNames(self.job_id, self.group, self.group_count, self.used, stop, self.base)
            return list(self)[key]
        idx = key + self.n if key < 0 else key
        if not 0 <= idx < self.n:
            raise IndexError(key)
        return next(islice(iter(self), idx, None))

    def __repr__(self) -> str:
        return f"MissingNames({self.job_id!r}, {self.group!r}, n={self.n})"


class AllocNameIndex:
    """Used name indexes of one task group. Nomad: reconciler.AllocNameIndex.

    `base`, when given, holds further used indexes (read, never changed): the index behaves as
    if built from `allocs` plus the allocs behind `base`.
    """

    __slots__ = ("job_id", "group", "count", "used", "duplicates", "_pending", "_base")

    def __init__(
        self, job_id: str, group: str, count: int, allocs: Iterable[Allocation], base: IndexMultiset | None = None
    ) -> None:
        self.job_id = job_id
        self.group = group
        self.count = count
        self._pending: MissingNames | None = None
        self._base = base if base is not None and base.used else None
        indexes = list(map(Allocation.index, allocs))  # cached on each alloc
        self.used: set[int] = set(indexes)
        self.duplicates: dict[int, int] = {}
        if len(self.used) != len(indexes):
            seen: set[int] = set()
            for idx in indexes:
                if idx in seen:
                    self.duplicates[idx] = self.duplicates.get(idx, 0) + 1
                else:
                    seen.add(idx)

    def _name(self, idx: int) -> str:
        return alloc_name(self.job_id, self.group, idx)

    def _merge_base(self) -> None:
        """Take the base's indexes into `used` and `duplicates` (a copy: the base is not changed)."""
        base, self._base = self._base, None
        if base is None:
            return
        both = self.used & base.used
        dups = self.duplicates
        for idx, more in base.extra.items():
            dups[idx] = dups.get(idx, 0) + more
        for idx in both:
            dups[idx] = dups.get(idx, 0) + 1
        self.used = self.used | base.used

    def _settle(self) -> None:
        """Mark the names of the last `next_lazy` used (in a new set: the lazy names keep theirs)."""
        pending, self._pending = self._pending, None
        if pending is not None and pending.n:
            used = self.used.union(pending.indexes())
            self._merge_base()
            self.used = used | self.used
        else:
            self._merge_base()

    def highest(self, n: int) -> set[str]:
        """Release and return the names of the `n` highest used indexes. Nomad: Highest."""
        self._settle()
        chosen = sorted(self.used, reverse=True)[: max(n, 0)]
        self.used.difference_update(chosen)
        return {self._name(i) for i in chosen}

    def unset_index(self, idx: int) -> None:
        """Mark one use of `idx` free (a duplicate use first). Nomad: UnsetIndex."""
        self._settle()
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
        names = list(self.next_lazy(n))
        self._settle()
        return names

    def next_lazy(self, n: int) -> MissingNames:
        """`next(n)` as a lazy sequence; the index counts the names as used from now on."""
        if self._pending is not None:
            self._settle()
        self._pending = MissingNames(self.job_id, self.group, self.count, self.used, n, self._base)
        return self._pending

    def next_canaries(
        self, n: int, existing: Iterable[Allocation], destructive: Iterable[Allocation]
    ) -> list[str]:
        """Names for `n` canaries, avoiding the names of existing canaries.

        Prefers the indexes of allocs being destructively updated, then free indexes below
        Count, then indexes from Count upwards (those are stopped again after promotion).
        Nomad: AllocNameIndex.NextCanaries.
        """
        self._settle()
        taken = {a.name for a in existing}
        names: list[str] = []
        preferred = sorted({a.index() for a in destructive if 0 <= a.index() < self.count})
        free = filterfalse(set(self.used).__contains__, range(self.count))  # used as on entry
        for idx in chain(preferred, free):
            if len(names) == n:
                return names
            name = self._name(idx)
            if name not in taken and name not in names:
                names.append(name)
                self.used.add(idx)
        names.extend(self._name(i) for i in range(self.count, self.count + n - len(names)))
        return names
