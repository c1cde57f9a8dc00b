"""The cluster's scheduler configuration. Nomad: nomad/structs/operator.go, SchedulerConfiguration.

Nomad keeps it in the state store (written through the operator API, read by every scheduler
pass); here too. Only the knobs the simulator acts on may be enabled: memory oversubscription,
job-registration rejection and pausing the eval broker are not modelled and must stay off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.structs.consts import (
    JOB_TYPE_BATCH,
    JOB_TYPE_SYSBATCH,
    JOB_TYPE_SYSTEM,
    SCHEDULER_ALGORITHM_BINPACK,
    SCHEDULER_ALGORITHM_SPREAD,
)


@dataclass(frozen=True, slots=True)
class PreemptionConfig:
    """Nomad: structs.PreemptionConfig: whether each scheduler may evict lower-priority allocs."""

    system_scheduler_enabled: bool = True
    sysbatch_scheduler_enabled: bool = False
    batch_scheduler_enabled: bool = False
    service_scheduler_enabled: bool = False

    def enabled_for(self, job_type: str) -> bool:
        """The switch the scheduler of `job_type` reads (Nomad: selectNextOption, NewSystemStack)."""
        if job_type == JOB_TYPE_SYSTEM:
            return self.system_scheduler_enabled
        if job_type == JOB_TYPE_SYSBATCH:
            return self.sysbatch_scheduler_enabled
        if job_type == JOB_TYPE_BATCH:
            return self.batch_scheduler_enabled
        return self.service_scheduler_enabled

    @classmethod
    def from_switches(cls, switches: dict[str, bool]) -> PreemptionConfig:
        """From the scenario's `control_plane.preemption` keys (system, sysbatch, batch, service)."""
        d = cls()
        return cls(
            system_scheduler_enabled=switches.get("system", d.system_scheduler_enabled),
            sysbatch_scheduler_enabled=switches.get("sysbatch", d.sysbatch_scheduler_enabled),
            batch_scheduler_enabled=switches.get("batch", d.batch_scheduler_enabled),
            service_scheduler_enabled=switches.get("service", d.service_scheduler_enabled),
        )


@dataclass(frozen=True, slots=True)
class SchedulerConfiguration:
    """Nomad: structs.SchedulerConfiguration (the fields of its API shape)."""

    scheduler_algorithm: str = SCHEDULER_ALGORITHM_BINPACK
    preemption_config: PreemptionConfig = field(default_factory=PreemptionConfig)
    memory_oversubscription_enabled: bool = False
    reject_job_registration: bool = False
    pause_eval_broker: bool = False
    create_index: int = 0
    modify_index: int = 0

    def effective_algorithm(self) -> str:
        """Nomad: EffectiveSchedulerAlgorithm: binpack unless spread is set."""
        return SCHEDULER_ALGORITHM_SPREAD if self.scheduler_algorithm == SCHEDULER_ALGORITHM_SPREAD else SCHEDULER_ALGORITHM_BINPACK

    def validate(self) -> str:
        """Nomad: SchedulerConfiguration.Validate, plus the knobs nomadsim does not model; "" when valid."""
        if self.scheduler_algorithm not in ("", SCHEDULER_ALGORITHM_BINPACK, SCHEDULER_ALGORITHM_SPREAD):
            return f"invalid scheduler algorithm: {self.scheduler_algorithm}"
        for name, value in (("MemoryOversubscriptionEnabled", self.memory_oversubscription_enabled),
                            ("RejectJobRegistration", self.reject_job_registration),
                            ("PauseEvalBroker", self.pause_eval_broker)):
            if value:
                return f"{name}: not modelled by nomadsim (must be false)"
        return ""
