"""Device structs: typed attributes with units, requested devices, their validation.

Cases ported from Nomad plugins/shared/structs/attribute_test.go (TestAttribute_ParseAndValidate,
TestAttribute_Compare_*), nomad/structs/structs_test.go (RequestedDevice.ID / DeviceIdTuple.Matches)
and Resources.Validate's device messages.
"""

from __future__ import annotations

import pytest

from sim.errors import ValidationError
from sim.structs.attribute import Attribute, parse_attribute
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job
from sim.structs.devices import RequestedDevice, id_matches
from sim.structs.validate.job import validate_job

PARSED = [
    ("true", Attribute(boolean=True)), ("false", Attribute(boolean=False)), ("1", Attribute(int_value=1)),
    ("100", Attribute(int_value=100)), ("-100", Attribute(int_value=-100)), ("-1.0", Attribute(float_value=-1.0)),
    ("-100.25", Attribute(float_value=-100.25)), ("1.01", Attribute(float_value=1.01)),
    ("foobar", Attribute(string="foobar")), ("foo123bar", Attribute(string="foo123bar")),
    ("100MB", Attribute(int_value=100, unit="MB")), ("-100MHz", Attribute(int_value=-100, unit="MHz")),
    ("-1.0MB/s", Attribute(float_value=-1.0, unit="MB/s")), ("-100.25GiB/s", Attribute(float_value=-100.25, unit="GiB/s")),
    ("1.01TB", Attribute(float_value=1.01, unit="TB")), ("100.25mW", Attribute(float_value=100.25, unit="mW")),
    ("80 GiB", Attribute(int_value=80, unit="GiB")), (".98   GiB/s", Attribute(float_value=0.98, unit="GiB/s")),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_attribute(text, expected):
    """Nomad: TestAttribute_ParseAndValidate."""
    assert parse_attribute(text) == expected


COMPARED = [
    ("true", "true", 0), ("true", "false", 1), ("true", "foo", None), ("true", "1", None),
    ("a", "b", -1), ("b", "b", 0), ("c", "b", 1), ("foo", "1", None), ("foo", "1MB", None),
    ("1", "2", -1), ("2.5", "2", 1), ("1024 MiB", "1 GiB", 0), ("1.5 GiB", "1536 MiB", 0), ("1 GiB", "1 GB", 1),
    ("1 GHz", "1000 MHz", 0), ("1 GHz", "1 GB", None), ("1 GB", "1", None), ("1000 mW", "1 W", 0),
    ("14 GB/s", "10 GB/s", 1), ("11 GiB", "11264 MiB", 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), COMPARED)
def test_compare_attributes(a, b, expected):
    """Nomad: TestAttribute_Compare_*: same kind and base unit compare, multipliers applied."""
    assert parse_attribute(a).compare(parse_attribute(b)) == expected


@pytest.mark.parametrize(("name", "tuple_", "matches"), [
    ("gpu", ("", "gpu", ""), True), ("nvidia/gpu", ("nvidia", "gpu", ""), True),
    ("nvidia/gpu/A100", ("nvidia", "gpu", "A100"), True), ("nvidia/gpu/1080ti", ("nvidia", "gpu", "1080ti"), False),
    ("intel/gpu", ("intel", "gpu", ""), False), ("fpga", ("", "fpga", ""), False),
])
def test_requested_device_id(name, tuple_, matches):
    """Nomad: RequestedDevice.ID splits the name; DeviceIdTuple.Matches ignores what the ask leaves out."""
    ask = RequestedDevice(name, 1)
    assert ask.id_tuple() == tuple_
    assert id_matches(("nvidia", "gpu", "A100"), ask.id_tuple()) is matches


def _job(devices) -> dict:
    return {"ID": "j", "Name": "j", "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Tasks": [
        {"Name": "t", "Driver": "docker", "Resources": {"CPU": 100, "MemoryMB": 128, "Devices": devices}}]}]}


def _errors(devices) -> str:
    job = decode_job(_job(devices))
    canonicalize(job)
    with pytest.raises(ValidationError) as info:
        validate_job(job)
    return info.value.message


def test_canonicalize_defaults_count_and_weight():
    """Nomad: api RequestedDevice.Canonicalize: Count 1; affinity weight 50."""
    job = decode_job(_job([{"Name": "gpu", "Affinities": [{"LTarget": "${device.model}", "RTarget": "A100", "Operand": "="}]}]))
    canonicalize(job)
    ask = job.task_groups[0].tasks[0].resources.extra["Devices"][0]
    assert ask["Count"] == 1 and ask["Affinities"][0]["Weight"] == 50
    validate_job(job)


def test_validate_messages():
    """Nomad: Resources.Validate: "device N failed validation: ..." around RequestedDevice.Validate."""
    message = _errors([{"Name": ""}, {"Name": "gpu", "Constraints": [{"LTarget": "${device.ids}", "Operand": "distinct_hosts"}]},
                       {"Name": "gpu", "Affinities": [{"LTarget": "${device.model}", "Operand": "=", "RTarget": "x", "Weight": 0}]}])
    assert "device 1 failed validation: 1 error occurred:\n\t* device name must be given as one of the following: " \
           "type, vendor/type, or vendor/type/name" in message
    assert 'device 2 failed validation: 1 error occurred:\n\t* Constraint 1 validation failed: using unsupported operand "distinct_hosts"' in message
    assert "device 3 failed validation" in message and "Affinity weight cannot be zero" in message


def test_validate_rejects_wrong_json_types():
    """Go's decoder: a string Count is not a uint64."""
    message = _errors([{"Name": "gpu", "Count": "2"}])
    assert "cannot unmarshal string into Go struct field RequestedDevice" in message and "of type uint64" in message


def test_hcl_device_blocks():
    """HCL `device "nvidia/gpu" { count, constraint, affinity }` inside `resources` is Resources.Devices."""
    from sim.structs.hcl import parse_job_hcl

    job = parse_job_hcl('''job "t" {
  group "g" {
    task "x" {
      driver = "docker"
      resources {
        device "nvidia/gpu/A100" {
          count = 2
          constraint {
            attribute = "${device.attr.memory}"
            operator  = ">="
            value     = "40 GiB"
          }
        }
      }
    }
  }
}''')
    assert job["TaskGroups"][0]["Tasks"][0]["Resources"]["Devices"] == [{
        "Name": "nvidia/gpu/A100", "Count": 2,
        "Constraints": [{"LTarget": "${device.attr.memory}", "Operand": ">=", "RTarget": "40 GiB"}]}]


@pytest.mark.parametrize(("devices", "words"), [
    ([{"Name": "gpu", "Count": -1}], "cannot unmarshal number -1 into Go struct field RequestedDevice"),
    ([{"Name": "gpu", "Constraints": ["x"]}], "cannot unmarshal string into Go struct field"),
    ([{"Name": "gpu", "Affinities": [{"LTarget": "a", "Weight": 500}]}], "cannot unmarshal number 500"),
    ("gpu", "of type []*api.RequestedDevice"),
])
def test_malformed_devices_json(devices, words):
    """Shapes Go's decoder refuses are refused with its message, never a crash."""
    assert words in _errors(devices)


def test_null_entries_are_ignored():
    """null devices, constraints and affinities decode to nothing, as Go's nil pointers."""
    job = decode_job(_job([None, {"Name": "gpu", "Constraints": [None], "Affinities": None}]))
    canonicalize(job)
    validate_job(job)
