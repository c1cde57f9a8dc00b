"""Request-body reading with Go's decoder semantics (sim/api/requests.py)."""

from __future__ import annotations

import pytest

from sim.api.requests import (
    body,
    field,
    json_kind,
    lookup,
    parse_json_body,
    query_bool,
)
from sim.errors import ApiError


def test_lookup_prefers_exact_key_then_ignores_case():
    """Go's encoding/json matches a field exactly first, then case-insensitively."""
    assert lookup({"jobid": "a", "JobID": "b"}, "JobID") == "b"
    assert lookup({"jobid": "a"}, "JobID") == "a"
    assert lookup({}, "JobID") is None


def test_field_wrong_type_is_a_400_with_go_decoder_message():
    """A string where a bool is due is Go's `cannot unmarshal` error."""
    with pytest.raises(ApiError) as err:
        field({"EnforceIndex": "yes"}, "EnforceIndex", bool, "JobRegisterRequest")
    assert err.value.status == 400
    assert err.value.message == ("json: cannot unmarshal string into Go struct field "
                                 "JobRegisterRequest.EnforceIndex of type bool")


def test_field_null_or_absent_gives_the_default():
    """JSON null means not given, as for Go pointers and zero values."""
    assert field({"Priority": None}, "Priority", int, "X", 7) == 7
    assert field({}, "Priority", int, "X", 7) == 7


def test_field_accepts_integral_floats_for_ints_but_not_bools():
    """1.0 decodes into an int field; true does not."""
    assert field({"N": 3.0}, "N", int, "X") == 3
    with pytest.raises(ApiError):
        field({"N": True}, "N", int, "X")


def test_field_map_of_strings_rejects_other_values():
    """Meta is map[string]string: a number inside is a decode error."""
    with pytest.raises(ApiError) as err:
        field({"Meta": {"a": 1}}, "Meta", dict, "JobDispatchRequest")
    assert "map[string]string" in err.value.message


def test_body_must_be_an_object():
    """A JSON array as a request body cannot decode into a request struct."""
    assert body(None, "X") == {}
    with pytest.raises(ApiError) as err:
        body([1], "JobRegisterRequest")
    assert err.value.message == "json: cannot unmarshal array into Go value of type structs.JobRegisterRequest"


def test_json_kind_names_go_decoder_kinds():
    """The kind names Go's decoder uses in its messages."""
    assert [json_kind(v) for v in (True, 1, 1.5, "s", [], {})] == ["bool", "number", "number", "string", "array", "object"]


def test_query_bool_parses_like_strconv():
    """strconv.ParseBool accepts 1/t/true and 0/f/false; anything else is a 400."""
    assert query_bool("true") and query_bool("1") and not query_bool("false") and not query_bool(None)
    with pytest.raises(ApiError) as err:
        query_bool("yes")
    assert err.value.status == 400


def test_parse_json_body_words_syntax_errors_as_go_does():
    """An empty body is None; bad JSON is a 400 with Go's decoder message."""
    assert parse_json_body(b"  \n") is None
    assert parse_json_body(b'{"Job": {"ID": "x"}}') == {"Job": {"ID": "x"}}
    cases = [(b"{not json", "invalid character 'n' looking for beginning of value"),
             (b'{"Job": ', "unexpected EOF"), (b'{"ID": "x', "unexpected EOF"),
             (b"\xff\xfe{", "invalid character in request body")]
    for raw, message in cases:
        with pytest.raises(ApiError) as err:
            parse_json_body(raw)
        assert (err.value.status, err.value.message) == (400, message)
