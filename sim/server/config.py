"""Control-plane knobs of one simulation, with Nomad's defaults (nomad/config.go)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ControlPlaneConfig:
    """Server-side settings. Durations in simulated seconds."""

    num_schedulers: int = 2
    think_time_base: float = 0.005
    think_time_per_placement: float = 0.0001
    plan_apply_latency: float = 0.002
    heartbeat_ttl: float = 10.0
    heartbeat_grace: float = 10.0
    eval_delivery_limit: int = 3
    eval_nack_timeout: float = 60.0
    eval_nack_initial_reenqueue_delay: float = 1.0
    eval_nack_subsequent_reenqueue_delay: float = 20.0
    eval_failed_followup_baseline_delay: float = 60.0
    eval_failed_followup_delay_range: float = 300.0
    failed_eval_unblock_interval: float = 60.0
    client_update_interval: float = 0.2
    deployment_eval_batch_period: float = 1.0
    scheduler_algorithm: str = "binpack"
    preemption: dict[str, bool] = field(
        default_factory=lambda: {"system": True, "sysbatch": False, "batch": False, "service": False}
    )
    job_tracked_versions: int = 6
    policy: str = ""
