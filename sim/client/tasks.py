"""Task-level pieces of a client: the restart tracker, task events and the alloc's client status.

Nomad: client/allocrunner/taskrunner/restarts/restarts.go (RestartTracker), taskrunner/task_runner.go
(the event sequence), nomad/structs/structs.go (TaskEvent display messages, Go duration format) and
client/allocrunner/alloc_runner.go (getClientStatus). Times are simulated seconds; restart policies
keep Nomad's integer nanoseconds.
"""

from __future__ import annotations

import numpy as np

from sim.client.behavior import BehaviorResolver, TaskBehavior
from sim.client.health import HealthParams, group_health_params
from sim.structs.alloc import TaskEvent, TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    JOB_TYPE_BATCH,
    JOB_TYPE_SYSBATCH,
    REASON_UNRECOVERABLE,
    RESTART_MODE_FAIL,
    TASK_DRIVER_FAILURE,
    TASK_KILLED,
    TASK_KILLING,
    TASK_NOT_RESTARTING,
    TASK_RECEIVED,
    TASK_RESTARTING,
    TASK_SETUP,
    TASK_SIBLING_FAILED,
    TASK_STARTED,
    TASK_STATE_DEAD,
    TASK_STATE_PENDING,
    TASK_STATE_RUNNING,
    TASK_TERMINATED,
)
from sim.structs.job import HOUR, MINUTE, SECOND, Job, RestartPolicy, Task

NS = 1e9
JITTER = 0.25
REASON_NO_RESTARTS = "Policy allows no restarts"
REASON_WITHIN_POLICY = "Restart within policy"
REASON_DELAY = "Exceeded allowed attempts, applying a delay"
REASON_SUCCESS = "Restart unnecessary as task terminated successfully"
DEFAULT_KILL_TIMEOUT = 5 * SECOND
_SERVICE_RESTARTS = RestartPolicy(attempts=2, interval=30 * MINUTE, delay=15 * SECOND, mode=RESTART_MODE_FAIL)
_BATCH_RESTARTS = RestartPolicy(attempts=3, interval=24 * HOUR, delay=15 * SECOND, mode=RESTART_MODE_FAIL)

# Decisions of the restart tracker (Nomad's TaskRestarting / TaskNotRestarting / TaskTerminated).
RESTART = "restart"
NO_RESTART = "no-restart"
TERMINATED = "terminated"
NO_SUCCESS_RESTART = (JOB_TYPE_BATCH, JOB_TYPE_SYSBATCH)  # job types whose successful tasks are done
RUNNING_STATUS = (ALLOC_CLIENT_RUNNING, "Tasks are running")  # (client status, description)


def go_duration(ns: int) -> str:
    """Format nanoseconds as Go's time.Duration.String ("1h0m0s", "15.2s", "1.5ms", "0s")."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(int(ns))
    if u < SECOND:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= scale:
                return sign + _fraction(u, scale) + unit
    seconds, minutes, hours = u % (60 * SECOND), (u // (60 * SECOND)) % 60, u // HOUR
    text = _fraction(seconds, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def restart_policy_for(job: Job, group: str, task: Task) -> RestartPolicy:
    """The task's restart policy: its own, else its group's, else Nomad's job-type default."""
    if task.restart_policy is not None:
        return task.restart_policy
    tg = job.lookup_task_group(group)
    if tg is not None and tg.restart_policy is not None:
        return tg.restart_policy
    return _BATCH_RESTARTS if job.type in (JOB_TYPE_BATCH, JOB_TYPE_SYSBATCH) else _SERVICE_RESTARTS


class GroupSpec:
    """What every alloc of one job version's group shares: tasks, behaviours, restart policies
    and health parameters, resolved once (allocs only differ in their deployment)."""

    __slots__ = ("tasks", "fail_health", "deploy_health", "migrate_health", "instant", "max_start_delay", "exits")

    def __init__(self, job: Job, group: str, resolver: BehaviorResolver):
        tg = job.lookup_task_group(group)
        specs = tg.tasks if tg is not None else []
        self.tasks = [(t, resolver.resolve(job, group, t.name), restart_policy_for(job, group, t)) for t in specs]
        self.fail_health = any(b.fail_health for _, b, _ in self.tasks)
        self.deploy_health = group_health_params(job, tg, True)
        self.migrate_health = group_health_params(job, tg, False)
        # Every task starts the moment the alloc arrives (no start delay): the runner's fast path.
        self.instant = bool(self.tasks) and all(b.start_delay <= 0 and not b.driver_error for _, b, _ in self.tasks)
        self.max_start_delay = max((b.start_delay for _, b, _ in self.tasks), default=0.0)
        self.exits = [fixed_exit(b) for _, b, _ in self.tasks]

    def health(self, deployment_id: str) -> HealthParams | None:
        """The health parameters for an alloc in (or outside) a deployment."""
        return self.deploy_health if deployment_id else self.migrate_health


def fixed_exit(behavior: TaskBehavior) -> tuple[float | None, int] | None:
    """(seconds until a run exits by itself, its exit code) when every run of the task is the
    same: a fixed runtime (or none) and no failure modes; None when the runner must draw it."""
    runtime = behavior.runtime
    if behavior.fail_after is not None or behavior.crash_after is not None or behavior.driver_error:
        return None
    if runtime is None or isinstance(runtime, int | float):
        return runtime, behavior.exit_code
    return None


class TaskRun:
    """One task of a running alloc: its spec, behaviour, state and restart tracker."""

    __slots__ = ("spec", "behavior", "policy", "state", "tracker", "run")

    def __init__(self, spec: Task, behavior: TaskBehavior, policy: RestartPolicy):
        self.spec = spec
        self.behavior = behavior
        self.policy = policy
        self.state = TaskState()
        self.tracker: RestartTracker | None = None
        self.run = 0  # bumps on every start and kill, so older timers of the task are ignored


def running_tasks(group: GroupSpec, arrivals: list[TaskEvent], started_event: TaskEvent,
                  now: float) -> tuple[list[TaskRun], dict[str, TaskState]]:
    """The tasks of an alloc of `group` just started at `now` (every task Received, Task Setup,
    Started and running, in its first run), and their states by name: what every alloc of the
    group that starts at `now` holds, so allocs that start together can share them until one
    writes (copy-on-write: `fork_tasks`)."""
    tasks = []
    for spec, behavior, policy in group.tasks:
        task = TaskRun(spec, behavior, policy)
        ts = task.state
        ts.events = [*arrivals, started_event]
        ts.state, ts.started_at = TASK_STATE_RUNNING, now
        task.run = 1
        tasks.append(task)
    return tasks, {t.spec.name: t.state for t in tasks}


def fork_tasks(tasks: list[TaskRun], states: dict[str, TaskState]) -> tuple[list[TaskRun], dict[str, TaskState]]:
    """Copies of shared tasks and their states (events are never mutated, so shared), equal to them."""
    states = copy_task_states(states)
    copies = []
    for task in tasks:
        copy = object.__new__(TaskRun)
        copy.spec, copy.behavior, copy.policy = task.spec, task.behavior, task.policy
        copy.state = states[task.spec.name]
        tracker = task.tracker
        if tracker is not None:
            tracker = RestartTracker.copy(tracker)
        copy.tracker = tracker
        copy.run = task.run
        copies.append(copy)
    return copies, states


class SharedEvents:
    """`Received`, `Task Setup` and `Started` events of one instant, shared by every alloc
    that arrives then. Task events are never mutated once made, so sharing is safe and saves
    objects when thousands of allocs start together."""

    __slots__ = ("time", "arrivals", "start", "exits")

    def __init__(self) -> None:
        self.time = -1.0
        self.arrivals: list[TaskEvent] = []
        self.start = started(-1.0)
        self.exits: dict[int, TaskEvent] = {}

    def _refresh(self, now: float) -> None:
        if self.time != now:
            self.time, self.arrivals, self.start = now, [received(now), task_setup(now)], started(now)
            self.exits = {}

    def terminated(self, now: float, exit_code: int) -> TaskEvent:
        """`Terminated` at `now` with this exit code."""
        if self.time != now:
            self._refresh(now)
        event = self.exits.get(exit_code)
        if event is None:
            event = self.exits[exit_code] = terminated(now, exit_code)
        return event

    def arrival_and_start(self, now: float) -> tuple[list[TaskEvent], TaskEvent]:
        """`Received` and `Task Setup`, and `Started`, at `now`."""
        if self.time != now:
            self._refresh(now)
        return self.arrivals, self.start

    def arrival(self, now: float) -> list[TaskEvent]:
        """`Received` and `Task Setup` at `now`."""
        self._refresh(now)
        return self.arrivals

    def started(self, now: float) -> TaskEvent:
        """`Started` at `now`."""
        self._refresh(now)
        return self.start


class RestartTracker:
    """Decides what happens after a task exits. Nomad: restarts.go, RestartTracker."""

    __slots__ = ("policy", "on_success", "count", "window_start", "reason")

    def __init__(self, policy: RestartPolicy, job_type: str, start_time: float):
        self.policy = policy
        self.on_success = job_type not in NO_SUCCESS_RESTART
        self.count = 0
        self.window_start = start_time
        self.reason = ""

    def copy(self) -> RestartTracker:
        """An equal tracker that counts on its own."""
        other = object.__new__(RestartTracker)
        other.policy, other.on_success, other.count = self.policy, self.on_success, self.count
        other.window_start, other.reason = self.window_start, self.reason
        return other

    def on_exit(self, now: float, exit_code: int, rng: np.random.Generator) -> tuple[str, float]:
        """(decision, restart delay in seconds) for a task that exited. Nomad: GetState."""
        policy = self.policy
        success = exit_code == 0
        if policy.attempts == 0:
            self.reason = REASON_NO_RESTARTS
            return (TERMINATED, 0.0) if success and not self.on_success else (NO_RESTART, 0.0)
        if now > self.window_start + policy.interval / NS:
            self.count = 0
            self.window_start = now
        self.count += 1
        if success and not self.on_success:
            self.reason = REASON_SUCCESS
            return TERMINATED, 0.0
        if self.count > policy.attempts:
            if policy.mode == RESTART_MODE_FAIL:
                self.reason = (f"Exceeded allowed attempts {policy.attempts} in interval "
                               f'{go_duration(policy.interval)} and mode is "fail"')
                return NO_RESTART, 0.0
            self.reason = REASON_DELAY
            return RESTART, max(0.0, self.window_start + policy.interval / NS - now)
        self.reason = REASON_WITHIN_POLICY
        return RESTART, self._jitter(rng)

    def _jitter(self, rng: np.random.Generator) -> float:
        """The delay plus up to 25% of it, drawn from `rng`. Nomad: RestartTracker.jitter."""
        delay = max(int(self.policy.delay), 1)
        return (delay + float(rng.random()) * delay * JITTER) / NS


# -- task events (display messages as Nomad's TaskEvent.PopulateEventDisplayMessage) -------------


def received(now: float) -> TaskEvent:
    """`Received`: the client got the alloc."""
    return TaskEvent(TASK_RECEIVED, now, "Task received by client")


def task_setup(now: float) -> TaskEvent:
    """`Task Setup` with Nomad's message `Building Task Directory`."""
    return TaskEvent(TASK_SETUP, now, "Building Task Directory")


def started(now: float) -> TaskEvent:
    """`Started`: the driver started the task."""
    return TaskEvent(TASK_STARTED, now, "Task started by client")


def driver_failure(now: float, error: str) -> TaskEvent:
    """`Driver Failure`: the task could not start (its message is the driver's error)."""
    return TaskEvent(TASK_DRIVER_FAILURE, now, error)


def unrecoverable(now: float) -> TaskEvent:
    """`Not Restarting` after a start error that no restart can fix (Nomad: SetStartError)."""
    return not_restarting(now, REASON_UNRECOVERABLE)


def terminated(now: float, exit_code: int) -> TaskEvent:
    """`Terminated` with the exit code."""
    return TaskEvent(TASK_TERMINATED, now, f"Exit Code: {exit_code}", exit_code=exit_code)


def restarting(now: float, delay: float, reason: str) -> TaskEvent:
    """`Restarting` after `delay` seconds."""
    text = f"Task restarting in {go_duration(round(delay * NS))}"
    if reason and reason != REASON_WITHIN_POLICY:
        text = f"{reason} - {text}"
    return TaskEvent(TASK_RESTARTING, now, text, restart_reason=reason, start_delay=delay)


def not_restarting(now: float, reason: str) -> TaskEvent:
    """`Not Restarting`: the task is dead and failed."""
    return TaskEvent(TASK_NOT_RESTARTING, now, reason or "Task exceeded restart policy",
                     restart_reason=reason, fails_task=True)


def killing(now: float, kill_timeout_ns: int) -> TaskEvent:
    """`Killing`: the interrupt was sent."""
    timeout = go_duration(kill_timeout_ns or DEFAULT_KILL_TIMEOUT)
    return TaskEvent(TASK_KILLING, now, f"Sent interrupt. Waiting {timeout} before force killing")


def killed(now: float) -> TaskEvent:
    """`Killed`: the task is gone."""
    return TaskEvent(TASK_KILLED, now, "Task successfully killed")


def sibling_failed(now: float, sibling: str) -> TaskEvent:
    """`Sibling Task Failed`: another task of the alloc failed."""
    return TaskEvent(TASK_SIBLING_FAILED, now, f'Task\'s sibling "{sibling}" failed')


def set_state(ts: TaskState, state: str, now: float, event: TaskEvent | None = None) -> None:
    """Append `event` and move the task to `state`. Nomad: TaskRunner.UpdateState / appendEvent."""
    if event is not None:
        ts.events.append(event)
        if event.type == TASK_RESTARTING:
            ts.restarts += 1
            ts.last_restart = now
        if event.fails_task:
            ts.failed = True
    if state == TASK_STATE_RUNNING and ts.state != TASK_STATE_RUNNING:
        ts.started_at = now
    elif state == TASK_STATE_DEAD and ts.state != TASK_STATE_DEAD:
        ts.finished_at = now
    ts.state = state


def copy_task_states(states: dict[str, TaskState]) -> dict[str, TaskState]:
    """A snapshot of task states for the server (events are never mutated, so shared)."""
    if len(states) == 1:
        for name, ts in states.items():
            return {name: TaskState(ts.state, ts.failed, ts.restarts, ts.last_restart, ts.started_at,
                                    ts.finished_at, ts.events.copy())}
    return {name: TaskState(ts.state, ts.failed, ts.restarts, ts.last_restart, ts.started_at,
                            ts.finished_at, list(ts.events)) for name, ts in states.items()}


def client_status(states: dict[str, TaskState]) -> tuple[str, str]:
    """(client status, description) of an alloc from its tasks. Nomad: getClientStatus."""
    failed = running = pending = False
    for ts in states.values():
        state = ts.state
        if state == TASK_STATE_RUNNING:
            running = True
        elif state == TASK_STATE_PENDING:
            pending = True
        elif ts.failed:
            failed = True
    if failed:
        return ALLOC_CLIENT_FAILED, "Failed tasks"
    if running:
        return RUNNING_STATUS
    if pending:
        return ALLOC_CLIENT_PENDING, "No tasks have started"
    return ALLOC_CLIENT_COMPLETE, "All tasks have completed"
