"""Evaluation.copy: the schedulers' cheap stand-in for dataclasses.replace."""

from __future__ import annotations

from dataclasses import fields, replace

from sim.structs.alloc import AllocMetric
from sim.structs.evaluation import Evaluation


def test_copy_equals_replace_field_by_field_and_is_shallow():
    ev = Evaluation(id="e1", namespace="ns", priority=70, type="batch", triggered_by="queued-allocs",
                    job_id="j", status="blocked", wait_until=12.5, related_evals=["e0"],
                    failed_tg_allocs={"g": AllocMetric()}, class_eligibility={"c1": True},
                    escaped_computed_class=True, queued_allocations={"g": 3}, snapshot_index=9,
                    modify_index=11)
    copied, replaced = ev.copy(), replace(ev)
    assert copied is not ev and copied == replaced == ev
    for f in fields(Evaluation):
        assert getattr(copied, f.name) is getattr(ev, f.name), f.name  # shallow, as replace
    copied.status = "complete"
    assert ev.status == "blocked"
