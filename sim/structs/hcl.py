"""HCL job files to Nomad's JSON job form, for POST /v1/jobs/parse.

Nomad: jobspec2 (HCL2 job specifications decoded into api.Job). python-hcl2 parses the text;
this module maps the block tree onto Nomad's JSON keys: block names to their PascalCase fields
(`group` -> TaskGroups, `restart` -> RestartPolicy, ...), the renamed attributes (`memory` ->
MemoryMB, `attribute` -> LTarget, ...), Go duration strings to nanoseconds, labelled blocks to
their name fields, and the constraint shortcuts (`distinct_hosts = true`, `regexp = "..."`).
Anything not listed is carried over with its name in PascalCase, so unknown blocks survive.
Interpolations such as `${attr.kernel.name}` stay as text, as Nomad keeps them for run time.
"""

from __future__ import annotations

from typing import Any

import hcl2

from sim.structs.duration import parse_go_duration

_Body = dict[str, Any]  # a block body in python-hcl2's form, or a Nomad JSON object

# Per parent block: child block name -> (JSON key, many?). A child converts as the kind its block
# name says; labelled blocks put their label into the object's name field (see _LABEL_KEY).
_CHILDREN: dict[str, dict[str, tuple[str, bool]]] = {
    "job": {"group": ("TaskGroups", True), "constraint": ("Constraints", True),
            "affinity": ("Affinities", True), "spread": ("Spreads", True),
            "update": ("Update", False), "migrate": ("Migrate", False),
            "reschedule": ("Reschedule", False), "periodic": ("Periodic", False),
            "parameterized": ("ParameterizedJob", False)},
    "group": {"task": ("Tasks", True), "constraint": ("Constraints", True),
              "affinity": ("Affinities", True), "spread": ("Spreads", True),
              "update": ("Update", False), "migrate": ("Migrate", False),
              "reschedule": ("ReschedulePolicy", False),
              "restart": ("RestartPolicy", False),
              "ephemeral_disk": ("EphemeralDisk", False),
              "network": ("Networks", True), "service": ("Services", True),
              "scaling": ("Scaling", False)},
    "task": {"constraint": ("Constraints", True), "affinity": ("Affinities", True),
             "resources": ("Resources", False), "service": ("Services", True),
             "restart": ("RestartPolicy", False), "logs": ("LogConfig", False),
             "lifecycle": ("Lifecycle", False), "artifact": ("Artifacts", True),
             "template": ("Templates", True),
             "dispatch_payload": ("DispatchPayload", False)},
    "resources": {"network": ("Networks", True), "device": ("Devices", True)},
    "device": {"constraint": ("Constraints", True), "affinity": ("Affinities", True)},
    "service": {"check": ("Checks", True)},
    "spread": {"target": ("SpreadTarget", True)},
    "network": {"port": ("Ports", True)},
}
_LABEL_KEY = {"job": "ID", "group": "Name", "task": "Name", "target": "Value", "port": "Label", "device": "Name"}
_RENAMES: dict[str, dict[str, str]] = {
    "*": {"cpu": "CPU", "id": "ID", "mbits": "MBits", "ip": "IP", "cidr": "CIDR"},
    "resources": {"memory": "MemoryMB", "memory_max": "MemoryMaxMB", "disk": "DiskMB"},
    "ephemeral_disk": {"size": "SizeMB"},
    "constraint": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "affinity": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "service": {"port": "PortLabel"},
    "check": {"port": "PortLabel"},
    "logs": {"max_file_size": "MaxFileSizeMB"},
    "periodic": {"cron": "Spec", "crons": "Specs"},
    "artifact": {"source": "GetterSource", "destination": "RelativeDest", "mode": "GetterMode",
                 "options": "GetterOptions", "headers": "GetterHeaders"},
    "template": {"source": "SourcePath", "destination": "DestPath", "data": "EmbeddedTmpl",
                 "left_delimiter": "LeftDelim", "right_delimiter": "RightDelim"},
    "port": {"static": "Value"},
    "network": {"reserved_ports": "ReservedPorts", "dynamic_ports": "DynamicPorts"},
}
_DURATIONS = frozenset({
    "interval", "delay", "max_delay", "min_healthy_time", "healthy_deadline", "progress_deadline",
    "stagger", "kill_timeout", "shutdown_delay", "timeout", "max_client_disconnect",
    "stop_after_client_disconnect", "splay",
})
_MAPS = frozenset({"meta", "env", "config", "options", "headers", "policy"})
_BOOLS = frozenset({"unlimited", "auto_revert", "auto_promote", "sticky", "migrate", "leader", "sidecar",
                    "prohibit_overlap", "enabled", "all_at_once", "disabled", "render_templates"})
_INTS = frozenset({"mbits", "count", "priority", "weight", "percent", "attempts", "max_parallel", "canary",
                   "cpu", "memory", "memory_max", "cores", "size", "max_files", "max_file_size", "min", "max"})
_CONSTRAINT_SHORTCUTS = ("distinct_hosts", "distinct_property", "regexp", "version", "semver",
                         "set_contains", "set_contains_any", "set_contains_all", "is_set", "is_not_set")
_META_KEYS = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")


def load_hcl(text: str) -> dict[str, Any]:
    """Parse HCL text into python-hcl2's dict form, strings unquoted, comments dropped."""
    try:
        from hcl2.utils import SerializationOptions
    except ImportError:  # python-hcl2 < 7 answers plain strings already
        return hcl2.loads(text)
    options = SerializationOptions(with_comments=False, strip_string_quotes=True, preserve_heredocs=False)
    return hcl2.loads(text, serialization_options=options)


def parse_job_hcl(text: str) -> dict[str, Any]:
    """The job of an HCL job file in Nomad's JSON form (not canonicalized).

    Raises:
        ValueError: the text does not parse, or holds no single `job` block.
    """
    try:
        tree = load_hcl(text)
    except Exception as exc:  # the parser raises lark's many error types
        raise ValueError(f"error parsing: {exc}") from exc
    blocks = tree.get("job") or []
    if not isinstance(blocks, list):  # `job = 5`: an argument, not a block
        raise ValueError('error parsing: Unsupported argument; An argument named "job" is not expected here')
    jobs = [(label, body) for block in blocks for label, body in _labelled(block)]
    if len(jobs) != 1:
        raise ValueError("only one job block may be defined" if jobs else "'job' block is required")
    label, body = jobs[0]
    job = _convert(body, "job")
    job["ID"] = label
    job.setdefault("Name", label)
    return job


def _labelled(block: Any) -> list[tuple[str, _Body]]:
    """(label, body) pairs of a labelled block as python-hcl2 shapes it."""
    if not isinstance(block, dict):
        return []
    return [(_unquote(k), v) for k, v in block.items() if k not in _META_KEYS and isinstance(v, dict)]


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _pascal(key: str, kind: str) -> str:
    for table in (_RENAMES.get(kind, {}), _RENAMES["*"]):
        if key in table:
            return table[key]
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def _bodies(value: Any) -> list[_Body]:
    """The bodies of an unlabelled block (a list of dicts in python-hcl2's form)."""
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, dict)]


def _convert(body: _Body, kind: str) -> dict[str, Any]:
    """One block body to its Nomad JSON object."""
    out: dict[str, Any] = {}
    children = _CHILDREN.get(kind, {})
    for key, value in body.items():
        if key in _META_KEYS:
            continue
        if key in children:
            _child(out, key, value, *children[key])
        elif kind == "constraint" and key in _CONSTRAINT_SHORTCUTS:
            _constraint_shortcut(out, key, _scalar(value))
        elif key in _MAPS and isinstance(value, dict | list):
            out[_pascal(key, kind)] = _map(value, free=key in ("config", "policy"))
        elif _is_block(value):
            out[_pascal(key, kind)] = _unknown_block(value, key)
        else:
            out[_pascal(key, kind)] = _value(key, value)
    _finish(out, kind)
    return out


def _child(out: _Body, kind: str, value: Any, json_key: str, many: bool) -> None:
    """Known child blocks of one name into `out[json_key]` (a list if `many`, else the last one)."""
    converted = []
    for body in _bodies(value):
        if kind in _LABEL_KEY:
            for label, inner in _labelled(body):
                obj = _convert(inner, kind)
                obj[_LABEL_KEY[kind]] = label
                converted.append(obj)
        else:
            converted.append(_convert(body, kind))
    if many:
        out.setdefault(json_key, []).extend(converted)
    elif converted:
        out[json_key] = converted[-1]


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value) and all(
        v.get("__is_block__") or any(isinstance(i, dict) and i.get("__is_block__") for i in v.values())
        for v in value)


def _unknown_block(value: list[_Body], key: str) -> Any:
    """A block this module does not know: one object (or a list), labels into `Name`."""
    converted = []
    for body in value:
        if body.get("__is_block__"):
            converted.append(_convert(body, key))
        else:
            converted.extend({**_convert(inner, key), "Name": label} for label, inner in _labelled(body))
    return converted[0] if len(converted) == 1 and value[0].get("__is_block__") else converted


def _scalar(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
        return value[0]
    return _unquote(value)


def _value(key: str, value: Any) -> Any:
    """An attribute value with Nomad's type: durations in ns, "true" and "100" typed."""
    value = _unquote(value)
    if key in _DURATIONS and isinstance(value, str):
        return parse_go_duration(value)
    if key in _BOOLS and isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if key in _INTS and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _map(value: Any, free: bool) -> dict[str, Any]:
    """A map attribute or block (meta, env, config): keys kept as written."""
    merged: dict[str, Any] = {}
    for body in _bodies(value):
        for k, v in body.items():
            if k in _META_KEYS:
                continue
            if free and isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
                merged[_unquote(k)] = [_map(i, True) for i in v]  # a nested block inside config
            elif free:
                merged[_unquote(k)] = _map(v, True) if isinstance(v, dict) else _plain(v)
            else:
                merged[_unquote(k)] = str(_plain(v)).lower() if isinstance(v, bool) else str(_plain(v))
    return merged


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return _unquote(value)


def _constraint_shortcut(out: _Body, key: str, value: Any) -> None:
    """Nomad: jobspec's constraint shortcuts (`distinct_hosts = true`, `regexp = "..."`)."""
    out["Operand"] = key
    if key == "distinct_hosts":
        out["RTarget"] = "true" if value in (True, "true") else str(value).lower()
    elif key == "distinct_property":
        out["LTarget"] = str(value)
    elif key not in ("is_set", "is_not_set"):
        out["RTarget"] = str(value)


def _finish(out: _Body, kind: str) -> None:
    """Defaults the HCL form implies (operands, weights, periodic spec type, ports)."""
    if kind in ("constraint", "affinity"):
        out.setdefault("Operand", "=")
    if kind == "affinity":
        out.setdefault("Weight", 50)
    if kind == "periodic":
        out.setdefault("SpecType", "cron")
        out.setdefault("Enabled", True)
    if kind == "network":
        _split_ports(out)


def _split_ports(net: _Body) -> None:
    """`port "x" {static = N}` blocks and HCL1's port lists become Reserved/Dynamic ports."""
    reserved = [{"Label": "", "Value": int(p)} for p in net.pop("ReservedPorts", []) if not isinstance(p, dict)]
    dynamic = [{"Label": str(p), "Value": 0} for p in net.pop("DynamicPorts", []) if not isinstance(p, dict)]
    for port in net.pop("Ports", []):
        port.setdefault("Value", 0)
        (reserved if port["Value"] else dynamic).append(port)
    if reserved:
        net["ReservedPorts"] = reserved
    if dynamic:
        net["DynamicPorts"] = dynamic
