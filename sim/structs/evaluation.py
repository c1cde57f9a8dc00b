"""Evaluations: the unit of scheduling work. Nomad: nomad/structs/eval.go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from sim.structs.alloc import AllocMetric
from sim.structs.consts import EVAL_STATUS_PENDING, EVAL_TERMINAL


@dataclass(slots=True)
class Evaluation:
    """Nomad: structs.Evaluation. `wait_until` is simulated seconds (0 = none)."""

    id: str
    namespace: str
    priority: int
    type: str
    triggered_by: str
    job_id: str
    job_modify_index: int = 0
    node_id: str = ""
    node_modify_index: int = 0
    deployment_id: str = ""
    status: str = EVAL_STATUS_PENDING
    status_description: str = ""
    wait: float = 0.0
    wait_until: float = 0.0
    next_eval: str = ""
    previous_eval: str = ""
    blocked_eval: str = ""
    related_evals: list[str] = field(default_factory=list)
    failed_tg_allocs: dict[str, AllocMetric] = field(default_factory=dict)
    class_eligibility: dict[str, bool] = field(default_factory=dict)
    escaped_computed_class: bool = False
    annotate_plan: bool = False
    plan_annotations: dict[str, Any] | None = None
    queued_allocations: dict[str, int] = field(default_factory=dict)
    snapshot_index: int = 0
    create_index: int = 0
    modify_index: int = 0
    create_time: float = 0.0
    modify_time: float = 0.0

    def copy(self) -> Evaluation:
        """A shallow copy: `dataclasses.replace(self)` at a tenth of its cost (schedulers and
        the workers' fast lane copy the eval on every run)."""
        return _copy(self)

    def terminal(self) -> bool:
        """Nomad: Evaluation.TerminalStatus."""
        return self.status in EVAL_TERMINAL

    def should_block(self) -> bool:
        """Whether this eval is a blocked eval being (re)processed."""
        return self.status == "blocked"


def _copier() -> Callable[[Evaluation], Evaluation]:
    """`Evaluation.copy` as straight-line slot writes on a bare instance (no `__init__` call:
    its defaults and factories do not apply to a copy), generated from the fields as
    dataclasses generates `__init__`."""
    lines = "".join(f"    new.{f.name} = self.{f.name}\n" for f in fields(Evaluation))
    namespace: dict[str, Any] = {"_new": object.__new__, "Evaluation": Evaluation}
    exec(f"def copy(self):\n    new = _new(Evaluation)\n{lines}    return new\n", namespace)
    copy: Callable[[Evaluation], Evaluation] = namespace["copy"]
    return copy


_copy = _copier()
