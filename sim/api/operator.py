"""The operator's scheduler configuration endpoint.

Nomad: command/agent/operator_endpoint.go (OperatorSchedulerConfiguration) over
nomad/operator_endpoint.go (SchedulerGetConfiguration, SchedulerSetConfiguration) and the API
shape of api/operator.go. A PUT replaces the whole configuration (absent fields are false, as Go
decodes them); `?cas=<index>` writes only when the configuration's ModifyIndex still matches.
The scheduler workers read the configuration at the start of each pass, so a change applies
from the next scheduler pass.
"""

from __future__ import annotations

from typing import Any

from sim.api.requests import body, field, json_kind
from sim.errors import ApiError
from sim.structs.scheduler_config import PreemptionConfig, SchedulerConfiguration

_STRUCT = "SchedulerConfiguration"


def encode_scheduler_config(c: SchedulerConfiguration) -> dict[str, Any]:
    """Nomad: api.SchedulerConfiguration."""
    p = c.preemption_config
    return {
        "SchedulerAlgorithm": c.scheduler_algorithm,
        "PreemptionConfig": {
            "SystemSchedulerEnabled": p.system_scheduler_enabled,
            "SysBatchSchedulerEnabled": p.sysbatch_scheduler_enabled,
            "BatchSchedulerEnabled": p.batch_scheduler_enabled,
            "ServiceSchedulerEnabled": p.service_scheduler_enabled,
        },
        "MemoryOversubscriptionEnabled": c.memory_oversubscription_enabled,
        "RejectJobRegistration": c.reject_job_registration,
        "PauseEvalBroker": c.pause_eval_broker,
        "CreateIndex": c.create_index,
        "ModifyIndex": c.modify_index,
    }


def decode_scheduler_config(payload: Any) -> SchedulerConfiguration:
    """A PUT body as Nomad's handler reads it, validated.

    Raises:
        ApiError: 400 "Error parsing scheduler config: ..." for a body Go cannot decode, 400 with
            Validate's message (or a knob nomadsim does not model set to true).
    """
    try:
        data = body(payload, _STRUCT)
        raw = field(data, "PreemptionConfig", object, _STRUCT, {}, gotype="api.PreemptionConfig")
        if not isinstance(raw, dict):
            raise ApiError(400, f"json: cannot unmarshal {json_kind(raw)} into Go struct field "
                                f"{_STRUCT}.PreemptionConfig of type api.PreemptionConfig")
        sub = f"{_STRUCT}.PreemptionConfig"
        config = SchedulerConfiguration(
            scheduler_algorithm=field(data, "SchedulerAlgorithm", str, _STRUCT, "", gotype="api.SchedulerAlgorithm"),
            preemption_config=PreemptionConfig(
                system_scheduler_enabled=field(raw, "SystemSchedulerEnabled", bool, sub, False),
                sysbatch_scheduler_enabled=field(raw, "SysBatchSchedulerEnabled", bool, sub, False),
                batch_scheduler_enabled=field(raw, "BatchSchedulerEnabled", bool, sub, False),
                service_scheduler_enabled=field(raw, "ServiceSchedulerEnabled", bool, sub, False),
            ),
            memory_oversubscription_enabled=field(data, "MemoryOversubscriptionEnabled", bool, _STRUCT, False),
            reject_job_registration=field(data, "RejectJobRegistration", bool, _STRUCT, False),
            pause_eval_broker=field(data, "PauseEvalBroker", bool, _STRUCT, False),
        )
    except ApiError as exc:
        raise ApiError(400, f"Error parsing scheduler config: {exc.message}") from None
    problem = config.validate()
    if problem:
        raise ApiError(400, problem)
    return config


def parse_cas(value: str | None) -> int | None:
    """The `?cas=` query parameter (strconv.ParseUint), None when absent."""
    if value is None:
        return None
    if not value.isdigit():
        raise ApiError(400, f'Error parsing cas value: strconv.ParseUint: parsing "{value}": invalid syntax')
    return int(value)
