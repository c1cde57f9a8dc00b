"""Shared helpers of the API tests: the tiny scenario, reference jobs, samples and OpenAPI schemas."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sim.errors import ApiError

DATA = Path(__file__).resolve().parents[1] / "data"
REFERENCE = DATA / "reference"
SAMPLES = REFERENCE / "api-docs-samples"

# Sample keys that are map keys (data), not struct fields: compared by value type only.
MAP_PATHS = {"TaskStates", "Summary", "FailedTGAllocs", "ClassEligibility", "NodesAvailable",
             "DimensionExhausted", "Updates", "DesiredTGUpdates", "TaskGroups", "QueuedAllocations"}
# Free-form maps (task config, meta, env): their contents are the job's, not a shape.
FREE_PATHS = {"Config", "GetterOptions", "Meta", "Env"}
# Go pointers (or nil maps) that a sample happens to show set: null is what Nomad answers when unset.
POINTER_KEYS = {"MaxClientDisconnect", "StopAfterClientDisconnect", "ShutdownDelay", "DeploymentStatus",
                "PlacedCanaries"}


def tiny_scenario(nodes: int = 3) -> dict[str, Any]:
    """Three identical nodes in dc1 (pool default), one hour."""
    return {
        "name": "api-tiny", "seed": 7, "duration": "1h",
        "cluster": {"nodes": [{"count": nodes, "name_prefix": "node", "datacenter": "dc1",
                               "resources": {"cpu": 4000, "memory": 8192, "disk": 102400},
                               "reserved": {"cpu": 100, "memory": 256, "disk": 4096, "ports": "22"}}]},
    }


def example_job() -> dict[str, Any]:
    """The API docs' example job (cache/redis), placed in the scenario's node pool."""
    data = json.loads((REFERENCE / "jobs" / "service-full-example-cache-redis-canonical.json").read_text())
    data["Job"]["NodePool"] = "default"
    return data


def batch_job(job_id: str = "batch", count: int = 2, **extra: Any) -> dict[str, Any]:
    """A small batch job in its API JSON form."""
    job = {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"],
           "TaskGroups": [{"Name": "work", "Count": count,
                           "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": "busybox"},
                                      "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}
    job.update(extra)
    return {"Job": job}


def parameterized_job(job_id: str = "param", payload: str = "optional", required=(), optional=()) -> dict:
    """A parameterized batch job."""
    return batch_job(job_id, 1, ParameterizedJob={"Payload": payload, "MetaRequired": list(required),
                                                  "MetaOptional": list(optional)})


def periodic_job(job_id: str = "cron", spec: str = "*/5 * * * *") -> dict[str, Any]:
    """A periodic batch job."""
    return batch_job(job_id, 1, Periodic={"Enabled": True, "SpecType": "cron", "Spec": spec})


def rejects(sim: Any, call: Any, status: int, message: str) -> None:
    """`call()` raises ApiError(status, message) and writes nothing (the state index stays)."""
    before = sim.state.index
    with pytest.raises(ApiError) as err:
        call()
    assert (err.value.status, err.value.message) == (status, message)
    assert sim.state.index == before


def sample(name: str) -> Any:
    """A sample response of the API docs."""
    return json.loads((SAMPLES / name).read_text())


def shape_problems(expected: Any, actual: Any, path: str = "", in_map: bool = False) -> list[str]:
    """Keys of `expected` missing from `actual`, or present with another JSON type.

    A null in the sample matches anything; under a map (data keys) only the value shapes of the
    first entry of each side are compared.
    """
    if expected is None or expected == ["..."]:
        return []
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if type(expected) is type(actual) else [f"{path}: {type(actual).__name__}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected object, got {type(actual).__name__}"]
        if in_map:
            if not expected or not actual:
                return []
            return shape_problems(next(iter(expected.values())), next(iter(actual.values())), path + ".*")
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            elif key in FREE_PATHS or (key in POINTER_KEYS and actual[key] is None):
                continue
            else:
                problems += shape_problems(value, actual[key], f"{path}.{key}", key in MAP_PATHS)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected array, got {type(actual).__name__}"]
        if not expected or not actual:
            return []
        return shape_problems(expected[0], actual[0], path + "[]")
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return []
    return [] if type(expected) is type(actual) else [f"{path}: expected {type(expected).__name__}"]


@functools.cache
def _openapi() -> dict[str, Any]:
    return yaml.safe_load((REFERENCE / "nomad-openapi.yaml").read_text())


def _nullable(schema: Any) -> Any:
    """Convert an OpenAPI schema to JSON Schema where every typed value may be null (Go's nil)."""
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items() if k not in ("format", "maximum", "minimum")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
        return {"anyOf": [out, {"type": "null"}]}
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def _definitions() -> dict[str, Any]:
    return {name: _nullable(s) for name, s in _openapi()["components"]["schemas"].items()}


@functools.cache
def response_schema(response_name: str) -> dict[str, Any]:
    """The JSON Schema of a named OpenAPI response (its application/json body)."""
    resp = _openapi()["components"]["responses"][response_name]
    schema = copy.deepcopy(resp["content"]["application/json"]["schema"])
    return {**_nullable(schema), "definitions": _definitions()}


@functools.cache
def _validator(response_name: str) -> jsonschema.protocols.Validator:
    schema = response_schema(response_name)
    return jsonschema.validators.validator_for(schema)(schema)


def validate_response(response_name: str, value: Any) -> None:
    """Raise jsonschema.ValidationError unless `value` fits the OpenAPI response schema."""
    _validator(response_name).validate(value)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(scenario_path: Path, port: int, *extra: str) -> list[str]:
    """`nomadsim serve` as a module run (`python -m sim serve`)."""
    import sys

    return [sys.executable, "-m", "sim", "serve", str(scenario_path), "--port", str(port), *extra]


def start_server(scenario_path: Path, *extra: str, timeout: float = 30.0):
    """Start the HTTP server as a subprocess on a free port; (process, base URL) once it answers."""
    import subprocess
    import time

    import requests

    port = free_port()
    proc = subprocess.Popen(server_command(scenario_path, port, *extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-3000:])
        try:
            if requests.get(url + "/v1/sim/status", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not answer in time")


def stop_server(proc) -> None:
    """Terminate a server started by start_server."""
    proc.terminate()
    try:
        proc.wait(10)
    except Exception:
        proc.kill()
