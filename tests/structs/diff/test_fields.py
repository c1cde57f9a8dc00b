"""Tests for sim.structs.diff.fields: flatmap flattening, field and set diffs, ObjectDiff ordering."""

from __future__ import annotations

from sim.structs.diff.fields import (
    content_key,
    flatten,
    flatten_any,
    object_record,
    primitive_flat_diff,
    sort_objects,
    string_set_diff,
)


def test_flatten_renders_missing_fields_as_go_zero_values() -> None:
    """Absent keys flatten as Go's zero values: "" strings, "0" ints, "false" bools."""
    assert flatten({"LTarget": "a"}, "Constraint") == {"LTarget": "a", "RTarget": "", "Operand": ""}
    assert flatten({"Sticky": True, "SizeMB": None}, "EphemeralDisk") == {
        "Sticky": "true", "SizeMB": "0", "Migrate": "false"}
    assert flatten(None, "Constraint") == {}


def test_flatten_any_indexes_lists_and_prints_numbers_as_float64() -> None:
    """Nomad: helper/flatmap Flatten on a free-form map: `[i]` for lists, nil, %v of float64."""
    assert flatten_any({"a": [1, {"b": None}], "c": 1e6}) == {"a[0]": "1", "a[1][b]": "nil", "c": "1e+06"}


def test_content_key_ignores_zero_valued_members() -> None:
    """Two values that differ only in omitted zero values match as set members."""
    assert content_key({"A": 0, "B": "x", "C": []}) == content_key({"B": "x"})
    assert content_key({"B": "x"}) != content_key({"B": "y"})


def test_string_set_diff_is_edited_when_members_come_and_go() -> None:
    """Nomad: diff.go stringSetDiff: one added and one deleted member make an Edited diff."""
    diff = string_set_diff(["a", "b"], ["b", "c"], "Datacenters", False)
    assert diff["Type"] == "Edited"
    assert [(f["Type"], f["Old"], f["New"]) for f in diff["Fields"]] == [("Added", "", "c"), ("Deleted", "a", "")]
    assert string_set_diff(["a"], ["a"], "Datacenters", False) is None


def test_primitive_flat_diff_is_nil_without_changes_even_in_context() -> None:
    """primitiveObjectDiff answers nil when no field changed, contextual or not."""
    assert primitive_flat_diff({"a": "1"}, {"a": "1"}, "N", True) is None
    assert primitive_flat_diff({}, {"a": "1"}, "N", False)["Type"] == "Added"


def test_sort_objects_orders_by_name_then_type_and_drops_nils() -> None:
    """Nomad: ObjectDiff.Less: by name, then Edited < Added < Deleted < None."""
    objects = [object_record("Added", "X", []), object_record("Edited", "X", []), None,
               object_record("None", "A", [])]
    assert [(o["Name"], o["Type"]) for o in sort_objects(objects)] == [
        ("A", "None"), ("X", "Edited"), ("X", "Added")]
