"""go-bexpr filter expressions (sim/api/bexpr.py) as Nomad's list endpoints evaluate them.

Cases follow hashicorp/go-bexpr's grammar tests and Nomad's filtering docs
(https://developer.hashicorp.com/nomad/api-docs#filtering): matching, logical and
membership operators, value coercion to the field's type, and the errors.
"""

from __future__ import annotations

import pytest

from sim.api.bexpr import FilterError, compile_filter

ALLOC = {"ID": "5d5b0090", "JobID": "web", "TaskGroup": "cache", "ClientStatus": "running", "CreateIndex": 12,
         "Canary": False, "Tags": ["a", "b"], "Meta": {"team": "infra"}, "Empty": "", "None": None,
         "TaskStates": {"redis": {"State": "running", "Restarts": 2}}}


@pytest.mark.parametrize(("expression", "expected"), [
    ('ClientStatus == "running"', True),
    ('ClientStatus != "running"', False),
    ("ClientStatus == running", True),  # bare words are values
    ("ClientStatus == `running`", True),
    ('ClientStatus == "running" and JobID == "web"', True),
    ('ClientStatus == "failed" or JobID == "web"', True),
    ('ClientStatus == "failed" or JobID == "api"', False),
    ('not ClientStatus == "failed"', True),
    ('not (ClientStatus == "running" and JobID == "web")', False),
    ('(JobID == "web" or JobID == "api") and TaskGroup == "cache"', True),
    ("CreateIndex == 12", True),  # coerced to the field's type
    ("CreateIndex == 13", False),
    ("Canary == false", True),
    ('"a" in Tags', True),
    ('"c" not in Tags', True),
    ('"team" in Meta', True),
    ('"ach" in TaskGroup', True),  # substring of a string field
    ("Tags contains b", True),
    ("Tags not contains z", True),
    ("Empty is empty", True),
    ("Tags is not empty", True),
    ("None is empty", True),
    ('JobID matches "^w.b$"', True),
    ('JobID not matches "^api"', True),
    ('TaskStates.redis.State == "running"', True),
    ("TaskStates.redis.Restarts == 2", True),
    ('TaskStates.missing.State == "running"', False),  # a missing map key matches nothing
    ('Meta.team == "infra"', True),
])
def test_expressions(expression, expected):
    assert compile_filter(expression)(ALLOC) is expected


@pytest.mark.parametrize("expression", ["", "ClientStatus ==", "== running", '(JobID == "web"',
                                        'JobID === "web"', 'JobID == "web" and', "JobID is full",
                                        'JobID matches "("'])
def test_expressions_that_do_not_parse(expression):
    with pytest.raises(FilterError):
        compile_filter(expression)


def test_an_unknown_field_is_an_evaluation_error_with_bexprs_text():
    with pytest.raises(FilterError) as err:
        compile_filter('Nope == "x"')(ALLOC)
    assert str(err.value) == ('error finding value in datum: /Nope at part 0: '
                              'couldn\'t find key: struct field with name "Nope"')
