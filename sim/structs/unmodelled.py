"""The Go types of job fields the simulator stores but does not model.

Nomad: api/jobs.go (Job), api/tasks.go (TaskGroup, Task). The codec keeps such fields verbatim in
a struct's `extra`; Nomad's JSON decoder still types them, so a value of the wrong JSON kind is a
400 (`json: cannot unmarshal number into Go struct field Job.Job.ConsulToken of type string`).
Keys not listed here stay untyped (Nomad ignores keys its structs do not have).
"""

from __future__ import annotations

from typing import Any

GO_TYPES: dict[str, dict[str, str]] = {
    "Job": {
        "ConsulToken": "string", "VaultToken": "string", "ConsulNamespace": "string",
        "VaultNamespace": "string", "NomadTokenID": "string", "Multiregion": "api.Multiregion",
        "UI": "api.JobUIConfig",
    },
    "TaskGroup": {"Volumes": "map[string]*api.VolumeRequest", "Consul": "api.Consul",
                  "Disconnect": "api.DisconnectStrategy"},
    "Task": {
        "Artifacts": "[]*api.TaskArtifact", "Vault": "api.Vault", "Templates": "[]*api.Template",
        "VolumeMounts": "[]*api.VolumeMount", "CSIPluginConfig": "api.TaskCSIPluginConfig",
        "Kind": "string", "ScalingPolicies": "[]*api.ScalingPolicy", "Identity": "api.WorkloadIdentity",
        "Identities": "[]*api.WorkloadIdentity", "Consul": "api.Consul",
    },
}
_FOLDED = {struct: {k.lower(): (k, t) for k, t in keys.items()} for struct, keys in GO_TYPES.items()}


def fits(value: Any, gotype: str) -> bool:
    """Whether a (non-null) JSON value decodes into the Go type."""
    if gotype.startswith("[]"):
        return isinstance(value, list)
    if gotype == "string":
        return isinstance(value, str)
    return isinstance(value, dict)  # structs and maps


def unmodelled_type(struct: str, key: str) -> tuple[str, str] | None:
    """(Go field name, Go type) of an unmodelled field of `struct` (matched as Go matches keys)."""
    return _FOLDED.get(struct, {}).get(key.lower())
