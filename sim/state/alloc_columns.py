"""Finished allocations compacted into columns.

Once a job is dead, its client-terminal allocs are read only by the API and by a later version of
the job, never in the hot loop; yet a run like a trace replay ends with millions of them. The
allocation table (sim.state.allocs) moves each such alloc into one row here: numbers in typed
arrays, repeated strings as codes into a string table, shared objects (job version, task states,
candidate-node counts) as references, the top scores of its metric packed into one byte buffer,
and the fields that are rarely set in a side dict. `build(row)` gives back an Allocation equal to
the one compacted, field by field, its metric's packed scores bit for bit.
"""

from __future__ import annotations

from array import array
from typing import Any

from sim.structs.alloc import NO_TRANSITION, Allocation, AllocMetric, ScoreLayout

# fields kept in the side dict when they differ from the value a new alloc has
_RARE = ("devices", "deployment_id", "deployment_status", "previous_allocation", "next_allocation",
         "last_reschedule", "followup_eval_id", "preempted_allocations", "preempted_by_allocation")
_RARE_DEFAULTS: tuple[object, ...] = ((), "", None, "", "", "", "", None, "")
_SEQUENCES = ("ports", "reschedule_tracker", "extra")  # kept when not empty
_STRINGS = ("namespace", "eval_id", "node_id", "node_name", "job_id", "task_group", "desired_status",
            "desired_description", "client_status", "client_description")
_INTS = ("cpu", "memory_mb", "disk_mb", "create_index", "modify_index", "alloc_modify_index")
_FLOATS = ("score", "create_time", "modify_time")
_METRIC_INTS = ("nodes_evaluated", "nodes_filtered", "nodes_in_pool", "nodes_exhausted", "allocation_time",
                "coalesced_failures")
_METRIC_CONTAINERS = ("class_filtered", "constraint_filtered", "class_exhausted", "dimension_exhausted",
                      "quota_exhausted", "resources_exhausted", "score_meta_data")
_NO_METRIC, _COMPACT_METRIC, _SIDE_METRIC = 0, 1, 2


class StringTable:
    """Strings numbered in first-seen order."""

    __slots__ = ("values", "_codes")

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self.values)
            self.values.append(value)
        return code


class AllocColumns:
    """Compacted allocs, one row each, rows never reused."""

    def __init__(self) -> None:
        self.strings = StringTable()
        self.codes = {name: array("i") for name in _STRINGS}
        self.ints = {name: array("q") for name in _INTS}
        self.floats = {name: array("d") for name in _FLOATS}
        self.ids: list[str] = []
        self.name_index = array("i")  # the index in a Nomad-style name, or -1 (the name is in `side`)
        self.jobs: list[Any] = []
        self.task_states: list[Any] = []
        self.side: dict[int, dict[str, Any]] = {}
        # metrics: the kind per row, then the compact ones' numbers, node pool, shared candidate
        # counts, and packed top scores (layout, bytes in `top_bytes`, node ID codes in `top_nodes`)
        self.metric_kind = array("b")
        self.metric_ints = {name: array("q") for name in _METRIC_INTS}
        self.node_pool = array("i")
        self.nodes_available: list[Any] = []
        self.top_layout: list[ScoreLayout | None] = []
        self.top_at = array("q")
        self.top_nodes_at = array("q")
        self.top_bytes = bytearray()
        self.top_nodes = array("i")

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, alloc: Allocation) -> int:
        """Store the alloc as a new row; returns the row."""
        row = len(self.ids)
        code = self.strings.code
        self.ids.append(alloc.id)
        side: dict[str, Any] = {}
        for name in _STRINGS:
            self.codes[name].append(code(getattr(alloc, name)))
        for columns, kind in ((self.ints, int), (self.floats, float)):
            for name, column in columns.items():  # (a value of another type is kept as is, in `side`)
                value = getattr(alloc, name)
                if type(value) is not kind:
                    side[name], value = value, 0
                column.append(value)
        self.jobs.append(alloc.job)
        self.task_states.append(alloc.task_states)
        index = alloc.index()
        if index < 0 or alloc.name != f"{alloc.job_id}.{alloc.task_group}[{index}]":
            index = -1
            side["name"] = alloc.name
        self.name_index.append(index)
        for name, default in zip(_RARE, _RARE_DEFAULTS, strict=True):
            value = getattr(alloc, name)
            if value is not default and value != default:
                side[name] = value
        for name in _SEQUENCES:
            value = getattr(alloc, name)
            if value:
                side[name] = value
        if alloc.desired_transition is not NO_TRANSITION:
            side["desired_transition"] = alloc.desired_transition
        self._add_metric(alloc.metrics, side)
        if side:
            self.side[row] = side
        return row

    def _add_metric(self, metric: AllocMetric | None, side: dict[str, Any]) -> None:
        top = metric.packed_top() if metric is not None else None
        compact = (metric is not None and top is not None
                   and all(metric.peek(name) is None for name in _METRIC_CONTAINERS))
        if metric is None:
            self.metric_kind.append(_NO_METRIC)
        elif not compact:
            self.metric_kind.append(_SIDE_METRIC)
            side["metrics"] = metric
        else:
            self.metric_kind.append(_COMPACT_METRIC)
        ints = self.metric_ints
        if not compact:
            for column in ints.values():
                column.append(0)
            self.node_pool.append(-1)
            self.nodes_available.append(None)
            self.top_layout.append(None)
        else:
            assert metric is not None and top is not None
            for name, column in ints.items():
                column.append(getattr(metric, name))
            self.node_pool.append(self.strings.code(metric.node_pool))
            self.nodes_available.append(metric.peek("nodes_available"))
            if top:
                layout, packed, node_ids = top
                self.top_layout.append(layout)
                self.top_bytes += packed
                self.top_nodes.extend([self.strings.code(node_id) for node_id in node_ids])
            else:
                self.top_layout.append(None)
        self.top_at.append(len(self.top_bytes))
        self.top_nodes_at.append(len(self.top_nodes))

    def job_key(self, row: int) -> tuple[str, str]:
        """(namespace, job ID) of the alloc in `row`."""
        strings = self.strings.values
        return strings[self.codes["namespace"][row]], strings[self.codes["job_id"][row]]

    def build(self, row: int) -> Allocation:
        """The alloc stored in `row`, as it was compacted."""
        strings = self.strings.values
        values: dict[str, Any] = {name: strings[self.codes[name][row]] for name in _STRINGS}
        values.update((name, self.ints[name][row]) for name in _INTS)
        values.update((name, self.floats[name][row]) for name in _FLOATS)
        side = self.side.get(row)
        index = self.name_index[row]
        name = side["name"] if index < 0 and side else f"{values['job_id']}.{values['task_group']}[{index}]"
        alloc = Allocation(id=self.ids[row], name=name, job=self.jobs[row], task_states=self.task_states[row],
                           metrics=self._metric(row, side), **values)
        if side:
            for field, value in side.items():
                if field not in ("name", "metrics"):
                    setattr(alloc, field, value)
        return alloc

    def _metric(self, row: int, side: dict[str, Any] | None) -> AllocMetric | None:
        kind = self.metric_kind[row]
        if kind == _NO_METRIC:
            return None
        if kind == _SIDE_METRIC:
            assert side is not None
            metric: AllocMetric = side["metrics"]
            return metric
        strings = self.strings.values
        values: dict[str, Any] = {name: column[row] for name, column in self.metric_ints.items()}
        metric = AllocMetric(**values, node_pool=strings[self.node_pool[row]],
                             nodes_available=self.nodes_available[row])
        layout = self.top_layout[row]
        if layout is not None:
            start = self.top_at[row - 1] if row else 0
            nodes_start = self.top_nodes_at[row - 1] if row else 0
            node_ids = [strings[code] for code in self.top_nodes[nodes_start : self.top_nodes_at[row]]]
            metric.restore_top(layout, bytes(self.top_bytes[start : self.top_at[row]]), node_ids)
        return metric
