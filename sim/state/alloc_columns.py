"""Finished allocations compacted into columns.

Once a job is dead, its client-terminal allocs are read only by the API and by a later version of
the job, never in the hot loop; yet a run like a trace replay ends with millions of them. The
allocation table (sim.state.allocs) moves such allocs here, a job's at a time, one row each:
numbers in typed arrays, strings as codes into a table of the values seen, shared objects (job
version, task states, candidate-node counts) as codes into the distinct ones, the metric's
containers of scalars as codes into the distinct values, its packed top scores in one byte
buffer, and the fields that are rarely set in a side dict. `build(row)` gives back an
Allocation equal to the one compacted, field by field, its metric's packed scores bit for bit.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate, chain, compress, islice, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any

from sim.state.narrow import UNSIGNED, IntColumn
from sim.structs.alloc import _MADE_BITS, Allocation, AllocMetric, DesiredTransition

_STRINGS = ("namespace", "eval_id", "node_id", "node_name", "job_id", "task_group", "desired_status",
            "desired_description", "client_status", "client_description")
_NUMBERS = (("cpu", "i", int), ("memory_mb", "i", int), ("disk_mb", "i", int), ("create_index", "i", int),
            ("modify_index", "i", int), ("alloc_modify_index", "i", int), ("score", "d", float),
            ("create_time", "d", float), ("modify_time", "d", float))
_INT32 = range(-(2**31), 2**31)  # what an "i" column holds (other values go to the side dict)
_SHARED = ("job", "task_states")  # kept by reference
# kept in the side dict when set: every one is falsy (None, "", (), empty) while unset
_RARE = ("ports", "devices", "networks", "deployment_id", "deployment_status", "previous_allocation", "next_allocation",
         "reschedule_tracker", "last_reschedule", "followup_eval_id", "preempted_by_allocation", "extra")
_METRIC_INTS = ("nodes_evaluated", "nodes_filtered", "nodes_in_pool", "nodes_exhausted", "allocation_time",
                "coalesced_failures")
# a metric's pool, counters, and what `AllocMetric.packed` reads (read in C, no call per metric)
_metric_row = attrgetter("node_pool", *_METRIC_INTS, "_made", "_top")
_NO_COUNTERS = (0,) * len(_METRIC_INTS)
_NO_ROW = (None, *_NO_COUNTERS, False, None)
_NO_TOP = (None, b"")  # a row without packed top scores: no layout, no bytes, no node IDs
_LAYOUT, _PACKED, _NODE_IDS = itemgetter(0), itemgetter(1), itemgetter(slice(2, None))
_DEFAULTS = (("preempted_allocations", None), ("desired_transition", DesiredTransition()))  # kept unless equal
_transition = attrgetter("migrate", "reschedule", "force_reschedule")
_NO_TRANSITION = {_transition(DesiredTransition())}
_FIELDS = ("id", "name", "metrics", *_STRINGS, *(name for name, _, _ in _NUMBERS), *_SHARED, *_RARE,
           *(name for name, _ in _DEFAULTS))
_fields = attrgetter(*_FIELDS)
_NAME_INDEX = attrgetter("_name_index")
_slot = AllocMetric.__dict__["nodes_available"].__get__


def _available(metric: AllocMetric | None) -> Any:
    """The metric's nodes_available as set, or None (no metric, or no container made)."""
    try:
        return None if metric is None else _slot(metric)
    except AttributeError:
        return None


def _nodes_available(metrics: Sequence[AllocMetric | None]) -> list[Any]:
    """Each metric's nodes_available as set, or None; read in C when every metric has one."""
    if set(map(type, metrics)) == {AllocMetric}:
        try:
            return list(map(_slot, metrics))
        except AttributeError:
            pass
    return list(map(_available, metrics))


def _all_default(values: Sequence[Any], default: Any) -> bool:
    """Every value equals `default` (DesiredTransitions by their fields, without a __eq__ call each)."""
    if type(default) is DesiredTransition and set(map(type, values)) == {DesiredTransition}:
        return set(map(_transition, values)) == _NO_TRANSITION
    return values.count(default) == len(values)


_NO_METRIC = -1  # node pool code of a row without a metric


def _same(values: Sequence[Any], kind: type, code: str) -> bool:
    """Every value is the first one's equal of type `kind` and fits a column of type `code`, so the
    column stores the first, repeated (a float not zero: 0.0 and -0.0 are equal, told apart)."""
    first = values[0]
    return (type(first) is kind and values.count(first) == len(values) and (first in _INT32 if code == "i" else first != 0)
            and list(map(type, values)).count(kind) == len(values))


def _int32(values: Sequence[Any]) -> bool:
    """Every value is an int that a 4-byte column holds."""
    return not values or (set(map(type, values)) <= {int} and min(values) in _INT32 and max(values) in _INT32)


class StringTable:
    """Values (strings, mostly) numbered in first-seen order."""

    __slots__ = ("values", "codes")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.codes: dict[Any, int] = {}

    def code(self, value: Any) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def code_into(self, column: IntColumn, values: Sequence[Any]) -> None:
        """Append each value's code to `column` (one value: its code repeated)."""
        if values.count(values[0]) == len(values):  # (a job's namespace, status, ...)
            column.repeat(self.code(values[0]), len(values))
        else:
            column.extend(self.code_all(values))

    def code_all(self, values: Sequence[Any]) -> list[int]:
        """The code of each value."""
        if values and values[0] == values[-1] and values.count(values[0]) == len(values):
            return [self.code(values[0])] * len(values)  # (one value: a job's namespace, status, ...)
        codes = self.codes
        for value in dict.fromkeys(values):  # (new values numbered in first-seen order)
            if value not in codes:
                self.code(value)
        return list(map(codes.__getitem__, values))


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _frozen(made: dict[str, Any]) -> tuple[Any, ...] | None:
    """A metric's containers as a hashable value (types included, as 1 == 1.0 == True), when each
    is a dict or list of scalars; None otherwise."""
    key: list[Any] = []
    for name, value in made.items():
        kind = type(value)
        if kind is dict:
            keys, values = tuple(value), tuple(value.values())
        elif kind is list:
            keys, values = (), tuple(value)  # (a list's keys are its positions)
        else:
            return None
        types = tuple(map(type, values))
        if not (_SCALARS.issuperset(types) and _SCALARS.issuperset(map(type, keys))):
            return None
        key.append((name, kind, keys, values, types))
    return tuple(key)


class MadeColumn:
    """Metrics' containers of scalars (`AllocMetric.made`: exhausted dimensions, filtered classes),
    alike across many rows: per row a code into the distinct values seen (0: none), each row
    rebuilt with containers of its own."""

    __slots__ = ("values", "rows", "_codes", "_alike")

    def __init__(self) -> None:
        self.values: list[dict[str, Any]] = [{}]
        self.rows = IntColumn(UNSIGNED)
        self._codes: dict[tuple[Any, ...], int] = {}
        self._alike: dict[int, dict[tuple[Any, ...], int]] = {}  # `extend_alike`'s codes, per `_made` flag

    def extend_alike(self, metrics: Sequence[AllocMetric | None], flags: Sequence[int]) -> bool:
        """`extend` of the metrics' containers (`flags`: their `_made`, 0 for none) when every
        metric with containers made the same ones, each a dict of str to int, read in C rather
        than through `made` and `_frozen` per metric; returns whether it could (else stores
        nothing). Such containers are coded by their items, in codes of their own."""
        kinds = set(flags)
        kinds.discard(0)
        if len(kinds) != 1:
            return False
        flag = kinds.pop()
        made = list(compress(metrics, flags))
        items: list[list[tuple[tuple[str, int], ...]]] = []
        names = [name for name, bit in _MADE_BITS if flag & bit]
        for name in names:
            containers = list(map(attrgetter(name), made))
            if set(map(type, containers)) != {dict} \
                    or not set(map(type, chain.from_iterable(containers))) <= {str} \
                    or not set(map(type, chain.from_iterable(map(dict.values, containers)))) <= {int}:
                return False
            items.append(list(map(tuple, map(dict.items, containers))))
        keys = list(zip(*items, strict=True))
        codes = self._alike.setdefault(flag, {})
        found = list(map(codes.get, keys))
        if None in found:
            values = self.values
            for i, key in enumerate(keys):
                if found[i] is None:
                    code = codes.get(key)
                    if code is None:
                        code = codes[key] = len(values)
                        values.append({name: dict(pairs) for name, pairs in zip(names, key, strict=True)})
                    found[i] = code
        if len(found) == len(flags):
            self.rows.extend(found)  # type: ignore[arg-type]
        else:
            rows = iter(found)
            self.rows.extend([f and next(rows) for f in flags])  # type: ignore[misc]
        return True

    def extend(self, made: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store each row's containers that `_frozen` takes; returns the others (kept elsewhere)."""
        if not any(made):
            self.rows.repeat(0, len(made))
            return made
        codes, values, rows, rest = self._codes, self.values, [], []
        for containers in made:
            key = _frozen(containers) if containers else None
            if key is None:
                rows.append(0)
                rest.append(containers)
                continue
            code = codes.get(key)
            if code is None:
                code = codes[key] = len(values)
                values.append(_copied(containers))
            rows.append(code)
            rest.append({})
        self.rows.extend(rows)
        return rest

    def __getitem__(self, row: int) -> dict[str, Any]:
        return _copied(self.values[self.rows[row]])


def _copied(made: dict[str, Any]) -> dict[str, Any]:
    """The containers copied (their values are scalars)."""
    return {name: type(value)(value) for name, value in made.items()}


class SharedColumn:
    """Objects kept by reference, each shared by many rows (a job's version, task states, candidate
    counts): per row a code into the distinct objects seen, told apart by identity."""

    __slots__ = ("objects", "rows", "_codes")

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.rows = IntColumn()
        self._codes: dict[int, int] = {}  # id(object) -> code (`objects` keeps it alive)

    def extend(self, values: Sequence[Any]) -> None:
        if values and all(map(is_, values, repeat(values[0], len(values)))):  # one object: a job's version, ...
            self.rows.repeat(self._code(values[0]), len(values))
            return
        ids = list(map(id, values))
        # (one value per distinct ID, in first-seen order: the same object wherever its ID repeats)
        codes, objects = self._codes, self.objects
        for object_id, value in dict(zip(ids, values, strict=True)).items():
            if object_id not in codes:  # (`_code`, spelled out: often one object per row)
                codes[object_id] = len(objects)
                objects.append(value)
        self.rows.extend(list(map(codes.__getitem__, ids)))

    def _code(self, value: Any) -> int:
        code = self._codes.get(id(value))
        if code is None:
            code = self._codes[id(value)] = len(self.objects)
            self.objects.append(value)
        return code

    def __getitem__(self, row: int) -> Any:
        return self.objects[self.rows[row]]


class AllocColumns:
    """Compacted allocs, one row each, rows never reused."""

    def __init__(self) -> None:
        self.strings = StringTable()
        self.ids: list[str] = []
        self.codes = {name: IntColumn() for name in _STRINGS}
        self.numbers: dict[str, IntColumn | array[float]] = {
            name: IntColumn(last="i") if kind == "i" else array(kind) for name, kind, _ in _NUMBERS}
        self.shared = {name: SharedColumn() for name in _SHARED}
        self.name_index = IntColumn()  # the index of a Nomad-style name, or -1 (the name is in `side`)
        self.side: dict[int, dict[str, Any]] = {}
        # metrics: the node pool's code (or _NO_METRIC), the counters, the shared candidate counts,
        # the packed top scores (layout; bytes and node ID codes up to each row's end offsets)
        self.node_pool = IntColumn()
        self.metric_ints = {name: IntColumn(last="i") for name in _METRIC_INTS}
        self.nodes_available = SharedColumn()
        self.made = MadeColumn()
        self.top_layout = SharedColumn()  # ScoreLayout or None
        self.top_bytes = bytearray()
        self.top_nodes = IntColumn()
        self.top_end = IntColumn()
        self.top_nodes_end = IntColumn()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, allocs: list[Allocation]) -> int:
        """Store the allocs as new rows, in order; returns the first row."""
        first, n = len(self.ids), len(allocs)
        sides: dict[int, dict[str, Any]] = {}

        def keep(i: int, name: str, value: object) -> None:
            sides.setdefault(first + i, {})[name] = value

        columns = dict(zip(_FIELDS, zip(*map(_fields, allocs), strict=True), strict=True))
        self.ids.extend(columns["id"])
        for name in _STRINGS:
            self.strings.code_into(self.codes[name], columns[name])
        for name, code, kind in _NUMBERS:
            numbers: Sequence[Any] = columns[name]
            column = self.numbers[name]
            if _same(numbers, kind, code):  # (one value: a job's resources, its plan's index, ...)
                if type(column) is IntColumn:
                    column.repeat(numbers[0], n)
                else:
                    column += array(code, numbers[:1]) * n  # type: ignore[operator]
                continue
            if not (_int32(numbers) if code == "i" else set(map(type, numbers)) <= {kind}):
                # another type, or an int too large for the column: kept as is, in the side dict
                fits = [type(value) is kind and (code != "i" or value in _INT32) for value in numbers]
                for i, (value, fit) in enumerate(zip(numbers, fits, strict=True)):
                    if not fit:
                        keep(i, name, value)
                numbers = [value if fit else 0 for value, fit in zip(numbers, fits, strict=True)]
            column.extend(numbers)  # type: ignore[arg-type]
        for name in _SHARED:
            self.shared[name].extend(columns[name])
        names, indexes = columns["name"], list(map(_NAME_INDEX, allocs))  # (`index()` as cached)
        if -2 in indexes:  # (some not cached yet)
            indexes = list(map(Allocation.index, allocs))
        nomad = tuple(map("{}.{}[{}]".format, columns["job_id"], columns["task_group"], indexes))
        if min(indexes) < 0 or names != nomad:  # (a Nomad-style name is stored as its index)
            for i, (name, expected, index) in enumerate(zip(names, nomad, indexes, strict=True)):
                if index < 0 or name != expected:
                    keep(i, "name", name)
                    indexes[i] = -1
        self.name_index.extend(indexes)
        for name in _RARE:
            values = columns[name]
            if any(values):
                for i, value in enumerate(values):
                    if value:
                        keep(i, name, value)
        for name, default in _DEFAULTS:
            values = columns[name]
            if not _all_default(values, default):
                for i, value in enumerate(values):
                    if value != default:
                        keep(i, name, value)
        rest = self._add_metrics(columns["metrics"])
        if any(rest):
            for i, made in enumerate(rest):
                if made:
                    keep(i, "metric", made)
        self.side.update(sides)
        return first

    def _add_metrics(self, metrics: tuple[AllocMetric | None, ...]) -> list[dict[str, Any]]:
        """Store the rows' metrics; returns each one's container fields to keep."""
        rows = (list(map(_metric_row, metrics)) if all(metrics)  # (metrics are truthy; None is not)
                else [_NO_ROW if m is None else _metric_row(m) for m in metrics])
        pools, *ints, flags, tops = zip(*rows, strict=True)
        if pools[0] is not None and pools.count(pools[0]) == len(pools):  # (one pool)
            self.node_pool.repeat(self.strings.code(pools[0]), len(pools))
        else:
            codes = self.strings.codes
            self.strings.code_all([p for p in pools if p is not None])
            self.node_pool.extend([_NO_METRIC if p is None else codes[p] for p in pools])
        same = [_same(values, int, "i") for values in ints]
        wide = not all(one or _int32(values) for one, values in zip(same, ints, strict=True))
        if not wide and any(flags) and self.made.extend_alike(metrics, flags):
            made: list[dict[str, Any]] = []  # (stored: none to keep)
        else:  # (`packed`: the containers made, and the top scores when some are packed)
            made = ([m.made() if flag else {} for m, flag in zip(metrics, flags, strict=True)]  # type: ignore[union-attr]
                    if any(flags) else [{}] * len(metrics))
        if wide:
            same = [False] * len(ints)
            counters = list(zip(*ints, strict=True))
            for i, values in enumerate(counters):
                if not _int32(values):  # kept whole, with the containers
                    made[i] = {**made[i], **dict(zip(_METRIC_INTS, values, strict=True))}
                    counters[i] = _NO_COUNTERS
            ints = list(zip(*counters, strict=True))
        for column, values, one in zip(self.metric_ints.values(), ints, same, strict=True):
            if one:
                column.repeat(values[0], len(values))
            else:
                column.extend(values)
        self.nodes_available.extend(_nodes_available(metrics))
        if not all(tops):
            tops = tuple(top or _NO_TOP for top in tops)
        self.top_layout.extend(list(map(_LAYOUT, tops)))
        packed, node_ids = list(map(_PACKED, tops)), list(map(_NODE_IDS, tops))
        # each row's end offsets (accumulate's first value, where the previous row ended, dropped)
        self.top_end.extend(list(islice(accumulate(map(len, packed), initial=len(self.top_bytes)), 1, None)))
        self.top_bytes += b"".join(packed)
        self.top_nodes_end.extend(list(islice(accumulate(map(len, node_ids), initial=len(self.top_nodes)), 1, None)))
        self.top_nodes.extend(self.strings.code_all(list(chain.from_iterable(node_ids))))
        return self.made.extend(made) if made else made

    def build(self, row: int) -> Allocation:
        """The alloc stored in `row`, as it was compacted."""
        strings = self.strings.values
        values: dict[str, Any] = {name: strings[codes[row]] for name, codes in self.codes.items()}
        values.update((name, column[row]) for name, column in self.numbers.items())
        values.update((name, column[row]) for name, column in self.shared.items())
        side = self.side.get(row) or {}
        index = self.name_index[row]
        name = side["name"] if index < 0 else f"{values['job_id']}.{values['task_group']}[{index}]"
        alloc = Allocation(id=self.ids[row], name=name, metrics=self._metric(row, side.get("metric")), **values)
        for field, value in side.items():
            if field not in ("name", "metric"):
                setattr(alloc, field, value)
        return alloc

    def _metric(self, row: int, made: dict[str, Any] | None) -> AllocMetric | None:
        pool = self.node_pool[row]
        if pool == _NO_METRIC:
            return None
        values: dict[str, Any] = {name: column[row] for name, column in self.metric_ints.items()}
        strings = self.strings.values
        metric = AllocMetric(**{**values, **self.made[row], **(made or {})}, node_pool=strings[pool],
                             nodes_available=self.nodes_available[row])
        layout = self.top_layout[row]
        if layout is not None:
            start = self.top_end[row - 1] if row else 0
            nodes_start = self.top_nodes_end[row - 1] if row else 0
            node_ids = [strings[code] for code in self.top_nodes.values[nodes_start : self.top_nodes_end[row]]]
            metric.restore_top(layout, bytes(self.top_bytes[start : self.top_end[row]]), node_ids)
        return metric
