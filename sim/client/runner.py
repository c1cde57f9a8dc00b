"""Alloc runners: one allocation's tasks on its node, as a small state machine of timer callbacks.

Nomad: client/allocrunner (alloc and task runners). Timers that fire at the same instant share one
SimPy event (`Clients.at`), and cancelling is free (a runner's epoch and a task's run number make
stale callbacks no-ops). So a healthy service alloc costs a start and, when its health is watched,
one health check; a batch task adds its exit.

Task lifecycle: Received → Task Setup → Started (after the behaviour's start delay) → running;
an exit gives Terminated and the restart tracker's decision (Restarting / Not Restarting / done);
a server stop gives Killing → Killed. Restarts after a delay go straight to Started. Lifecycle
hooks (prestart/poststart/poststop), leader tasks and service checks are not modelled: all tasks
of an alloc start together.

Runners started together: the allocs of one job group that a plan places at the same instant
start with the same task states, so `start_together` starts them in one pass sharing one set of
tasks and states (copy-on-write: a runner copies them before its first write) and, when every
task's exit is fixed, arms one timer per instant for all of them (`RunnerBatch`), which fires each
runner's callbacks in the order they would have fired one by one. Batch tasks that then exit
together in step share the states after the exit too. Nothing observable changes: every alloc
goes through the same transitions, events, times and reports as when started on its own.

Wiring: `AllocRunner(clients, alloc, group)`, where `clients` is the `RunnerClient` the runner
reports to (its timers, random stream and status reports: sim.client.clients.Clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import simpy

from sim.client.health import CHECK, DEADLINE, HEALTHY_NOW, HealthWatch
from sim.client.tasks import (
    NO_RESTART,
    NO_SUCCESS_RESTART,
    RESTART,
    RUNNING_STATUS,
    GroupSpec,
    RestartTracker,
    SharedEvents,
    TaskRun,
    client_status,
    copy_task_states,
    driver_failure,
    fork_tasks,
    killed,
    killing,
    not_restarting,
    restarting,
    set_state,
    sibling_failed,
    unrecoverable,
)
from sim.structs.alloc import Allocation, TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    CLIENT_TERMINAL,
    TASK_STATE_DEAD,
    TASK_STATE_PENDING,
    TASK_STATE_RUNNING,
)


class RunnerClient(Protocol):
    """What an alloc runner uses of its client: the clock and timers, the random stream, shared
    task events, group specs, and where status changes and reports go. Nomad: the client's hooks
    in allocrunner.Config (StateUpdater and the like)."""

    @property
    def env(self) -> simpy.Environment: ...

    @property
    def rng(self) -> np.random.Generator: ...

    @property
    def events(self) -> SharedEvents: ...

    def group_spec(self, alloc: Allocation) -> GroupSpec: ...

    def at(self, when: float, fn: Callable[..., None], *args: Any) -> None: ...

    def record(self, alloc: Allocation, status: str, now: float) -> None: ...

    def record_all(self, runners: list[AllocRunner], status: str, now: float) -> None: ...

    def mark_dirty(self, runner: AllocRunner) -> None: ...

    def mark_all_dirty(self, runners: list[AllocRunner]) -> None: ...


class AllocRunner:
    """Runs one allocation's tasks on its node. Nomad: client/allocrunner alloc_runner.go."""

    __slots__ = ("clients", "alloc", "group", "tasks", "states", "epoch", "status", "description",
                 "watch", "health", "health_sent", "was_healthy", "deployment_id", "created", "done",
                 "shared", "borrowed")

    def __init__(self, clients: RunnerClient, alloc: Allocation, group: GroupSpec | None = None):
        self.clients = clients
        self.alloc = alloc
        self.group = group = group if group is not None else clients.group_spec(alloc)
        if len(group.tasks) == 1:
            spec, behavior, policy = group.tasks[0]
            task = TaskRun(spec, behavior, policy)
            self.tasks, self.states = [task], {spec.name: task.state}
        else:
            self.tasks = [TaskRun(spec, behavior, policy) for spec, behavior, policy in group.tasks]
            self.states = {t.spec.name: t.state for t in self.tasks}
        self.epoch = 0
        self.status = ALLOC_CLIENT_PENDING
        self.description = ""
        self.watch: HealthWatch | None = None
        self.health: bool | None = None
        self.health_sent: bool | None = None
        self.was_healthy = False
        self.deployment_id = alloc.deployment_id
        self.created = clients.env.now
        self.done = False
        self.shared = False  # the server holds `states` since the last report: copy before writing
        self.borrowed = False  # `tasks` and `states` are shared with runners started alongside: copy both first

    @classmethod
    def borrowing(cls, clients: RunnerClient, allocs: list[Allocation], group: GroupSpec, tasks: list[TaskRun],
                  states: dict[str, TaskState], now: float) -> list[AllocRunner]:
        """A runner (not started) for each alloc, in order, whose tasks and states are the shared
        `running_tasks` of its group, copied on its first write; see `start_together`."""
        runners = []
        new = object.__new__
        for alloc in allocs:
            runner = new(cls)
            runner.clients, runner.alloc, runner.group, runner.tasks, runner.states = clients, alloc, group, tasks, states
            runner.epoch = 0
            runner.status = ALLOC_CLIENT_PENDING
            runner.description = ""
            runner.watch = runner.health = runner.health_sent = None
            runner.was_healthy = runner.done = False
            runner.deployment_id = alloc.deployment_id
            runner.created = now
            runner.shared = runner.borrowed = True
            runners.append(runner)
        return runners

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Receive the alloc and start its tasks (now, or after each task's start delay)."""
        clients = self.clients
        now = clients.env.now
        group = self.group
        if (group.deploy_health if self.alloc.deployment_id else group.migrate_health) is not None:
            self._watch_health(now, group.max_start_delay)
        if not group.instant:
            self._start_each(now)
            self._changed(now)
            return
        # No start delay: `_run` for every task in one pass, then all run (Nomad's getClientStatus).
        arrivals, started_event = clients.events.arrival_and_start(now)
        for task in self.tasks:
            ts = task.state
            events = ts.events
            events += arrivals
            events.append(started_event)
            ts.state, ts.started_at = TASK_STATE_RUNNING, now
            task.run = 1
        self._all_started(now)

    def _all_started(self, now: float) -> None:
        """Every task was started at `now` (its first run): arm the exits and the health watch,
        and report the alloc running."""
        clients = self.clients
        epoch = self.epoch
        for i, (task, fixed_exit) in enumerate(zip(self.tasks, self.group.exits, strict=True)):
            end, code = fixed_exit or self._exit_plan(task)
            if end is not None:
                clients.at(now + end, AllocRunner._exit, self, epoch, i, 1, code)
        if self.watch is not None:
            self._all_running(now)
        self.status, self.description = RUNNING_STATUS
        clients.record(self.alloc, ALLOC_CLIENT_RUNNING, now)
        clients.mark_dirty(self)

    def _start_each(self, now: float) -> None:
        for i, task in enumerate(self.tasks):
            events = task.state.events
            events += self.clients.events.arrival(now)
            delay = task.behavior.start_delay
            if delay > 0:
                self.clients.at(now + delay, AllocRunner._start_task, self, self.epoch, i, task.run)
            else:
                self._run(i, now)

    def _own_states(self) -> None:
        """Copy-on-write: runners started together share their tasks and states until one writes,
        and the last report handed `states` to the server; write to copies."""
        if self.borrowed:
            self.tasks, self.states = fork_tasks(self.tasks, self.states)
            self.borrowed = self.shared = False
        elif self.shared:
            states = self.states = copy_task_states(self.states)
            for task in self.tasks:
                task.state = states[task.spec.name]
            self.shared = False

    def _start_task(self, epoch: int, i: int, run: int) -> None:
        if epoch == self.epoch and run == self.tasks[i].run:
            self._own_states()
            now = self.clients.env.now
            self._run(i, now)
            self._changed(now)

    def _run(self, i: int, now: float) -> None:
        """The driver starts task `i`: Started, then arm its exit (if it ever exits by itself)."""
        task = self.tasks[i]
        task.run += 1
        if task.behavior.driver_error:  # Nomad: a start error that is not recoverable fails the task
            task.state.events.append(driver_failure(now, task.behavior.driver_error))
            set_state(task.state, TASK_STATE_DEAD, now, unrecoverable(now))
            self._set_health(False)
            self._kill_siblings(task, now)
            return
        set_state(task.state, TASK_STATE_RUNNING, now, self.clients.events.started(now))
        end, code = self._exit_plan(task)
        if end is not None:
            self.clients.at(now + end, AllocRunner._exit, self, self.epoch, i, task.run, code)
        if self.watch is not None and self._tasks_running():
            self._all_running(now)

    def _exit_plan(self, task: TaskRun) -> tuple[float | None, int]:
        """(seconds until this run exits by itself, its exit code); None: runs until stopped."""
        b = task.behavior
        end, code = b.runtime, b.exit_code
        if end is not None and type(end) is not float:
            end = b.sample_runtime(self.clients.rng)
        if b.fail_after is not None and (end is None or b.fail_after < end):
            end, code = b.fail_after, b.failure_exit_code()
        crash_now = self.watch is None or self.was_healthy
        if b.crash_after is not None and crash_now and (end is None or b.crash_after < end):
            end, code = b.crash_after, b.failure_exit_code()
        return end, code

    def _exit(self, epoch: int, i: int, run: int, code: int) -> None:
        """Task `i` exited: Terminated, then the restart tracker decides. Nomad: shouldRestart."""
        task = self.tasks[i]
        if epoch != self.epoch or run != task.run or task.state.state != TASK_STATE_RUNNING:
            return
        if self.shared:
            self._own_states()
            task = self.tasks[i]
        now = self.clients.env.now
        ts = task.state
        ts.events.append(self.clients.events.terminated(now, code))
        if code == 0 and task.tracker is None and self.alloc.job.type in NO_SUCCESS_RESTART:
            ts.state, ts.finished_at = TASK_STATE_DEAD, now  # a fresh tracker always says: terminated
            self._changed(now)
            return
        if task.tracker is None:
            task.tracker = RestartTracker(task.policy, self.alloc.job.type, self.created)
        decision, delay = task.tracker.on_exit(now, code, self.clients.rng)
        if decision == RESTART:
            set_state(ts, TASK_STATE_PENDING, now, restarting(now, delay, task.tracker.reason))
            self.clients.at(now + delay, AllocRunner._start_task, self, self.epoch, i, task.run)
            self._set_health(False)
        elif decision == NO_RESTART:
            set_state(ts, TASK_STATE_DEAD, now, not_restarting(now, task.tracker.reason))
            self._set_health(False)
            self._kill_siblings(task, now)
        else:
            set_state(ts, TASK_STATE_DEAD, now)
        self._changed(now)

    def _exit_in_step(self, i: int, code: int, after: dict[tuple[int, int], tuple[Any, ...]]) -> str | None:
        """`_exit(0, i, 1, code)` of a runner still sharing the tasks it started with (or their
        shared successors) when the outcome is the same for every runner sharing them: a batch
        task's first run exited 0, so it is dead. The tasks and states after the exit are made
        once and shared in turn (`after`: by the tasks before, for one instant). Returns the new
        client status, for the caller's `_set_status`; None: not such an exit (`_exit` decides)."""
        tasks = self.tasks
        task = tasks[i]
        if (not self.borrowed or code != 0 or self.epoch != 0 or task.run != 1 or task.tracker is not None
                or task.state.state != TASK_STATE_RUNNING or self.alloc.job.type not in NO_SUCCESS_RESTART):
            return None
        key = (id(tasks), i)
        found = after.get(key)
        if found is None or found[0] is not tasks:
            now = self.clients.env.now
            new_tasks, new_states = fork_tasks(tasks, self.states)
            ts = new_tasks[i].state
            ts.events.append(self.clients.events.terminated(now, code))
            ts.state, ts.finished_at = TASK_STATE_DEAD, now
            found = after[key] = (tasks, new_tasks, new_states, *client_status(new_states))
        _, self.tasks, self.states, status, self.description = found
        return status  # type: ignore[no-any-return]

    def _kill_siblings(self, failed: TaskRun, now: float) -> None:
        """Nomad: a failed task takes its live siblings down (`Sibling Task Failed`)."""
        for task in self.tasks:
            if task is not failed and task.state.state != TASK_STATE_DEAD:
                task.state.events.append(sibling_failed(now, failed.spec.name))
                self._kill_task(task, now)

    def _kill_task(self, task: TaskRun, now: float) -> None:
        task.run += 1
        task.state.events.append(killing(now, task.spec.kill_timeout))
        set_state(task.state, TASK_STATE_DEAD, now, killed(now))

    def kill(self) -> None:
        """The server stopped the alloc: kill every live task (Killing → Killed)."""
        if self.done:
            return
        self.epoch += 1
        self._own_states()
        now = self.clients.env.now
        for task in self.tasks:
            if task.state.state != TASK_STATE_DEAD:
                self._kill_task(task, now)
        self._changed(now)

    def crash(self, error: Exception) -> None:
        """An error inside this simulated runner (a bad behaviour, a bug): its live tasks fail with
        `Driver Failure` (the error) and `Not Restarting`; the rest of the run goes on."""
        if self.done:
            return
        self.epoch += 1  # its pending timers become no-ops
        self._own_states()
        now = self.clients.env.now
        for task in self.tasks:
            if task.state.state != TASK_STATE_DEAD:
                task.run += 1
                task.state.events.append(driver_failure(now, f"{type(error).__name__}: {error}"))
                set_state(task.state, TASK_STATE_DEAD, now, unrecoverable(now))
        self._changed(now)

    def silence(self) -> None:
        """The node died: the runner stops without a word (its timers become no-ops)."""
        self.epoch += 1
        self.done = True

    def update(self, alloc: Allocation) -> None:
        """An in-place update: tasks keep running under the new version's restart policies (their
        behaviour stays); a new deployment restarts the health clock."""
        if self.borrowed:
            self._own_states()
        self.alloc = alloc
        self.group = self.clients.group_spec(alloc)
        policies = {spec.name: policy for spec, _, policy in self.group.tasks}
        for task in self.tasks:
            task.policy = policies.get(task.spec.name, task.policy)
            if task.tracker is not None:
                task.tracker.policy = task.policy
        if not alloc.deployment_id or alloc.deployment_id == self.deployment_id or self.done:
            return
        self.deployment_id = alloc.deployment_id
        self.health = self.health_sent = None
        now = self.clients.env.now
        self._watch_health(now)
        if self.watch is not None and self._tasks_running():
            self._all_running(now)

    # -- health -------------------------------------------------------------------------------

    def _watch_health(self, now: float, max_start_delay: float | None = None) -> None:
        """Start a health clock (`max_start_delay`: of the tasks not running yet, when known)."""
        params = self.group.health(self.alloc.deployment_id)
        if params is None:
            self.watch = None
            return
        watch = self.watch = HealthWatch(params, now, self.group.fail_health)
        if max_start_delay is None:
            pending = [t.behavior.start_delay for t in self.tasks if t.state.state != TASK_STATE_RUNNING]
            max_start_delay = max(pending, default=0.0)
        deadline = watch.begin(now, max_start_delay)
        if deadline is not None:
            self.clients.at(deadline, AllocRunner._health_timer, self, watch, False)

    def _tasks_running(self) -> bool:
        for task in self.tasks:
            if task.state.state != TASK_STATE_RUNNING:
                return False
        return True

    def _all_running(self, now: float) -> None:
        """Every task runs: the health watch decides what to arm (Nomad: allochealth tracker)."""
        watch = self.watch
        if watch is None:  # (callers check)
            return
        kind, at = watch.on_all_running(now)
        if kind == HEALTHY_NOW:
            self._set_health(True)
        elif kind == CHECK:
            self.clients.at(at, AllocRunner._health_timer, self, watch, True)
        elif kind == DEADLINE:
            self.clients.at(at, AllocRunner._health_timer, self, watch, False)

    def _health_timer(self, watch: HealthWatch, healthy: bool) -> None:
        """A check (healthy if every task still runs) or the deadline (unhealthy) fires."""
        if watch is not self.watch or watch.verdict is not None or self.done:
            return
        if healthy and not self._tasks_running():
            return
        self._set_health(healthy)
        self.clients.mark_dirty(self)

    def _set_health(self, healthy: bool) -> None:
        """Give the health verdict of the current clock (once)."""
        watch = self.watch
        if watch is None or watch.verdict is not None:
            return
        watch.verdict = self.health = healthy
        if healthy:
            self.was_healthy = True
            self._arm_crashes()

    def _arm_crashes(self) -> None:
        """Tasks that crash only after having been healthy start their countdown now."""
        now = self.clients.env.now
        for i, task in enumerate(self.tasks):
            after = task.behavior.crash_after
            if after is not None and task.state.state == TASK_STATE_RUNNING:
                code = task.behavior.failure_exit_code()
                self.clients.at(now + after, AllocRunner._exit, self, self.epoch, i, task.run, code)

    # -- status and reports -------------------------------------------------------------------

    def _changed(self, now: float) -> None:
        """Task states changed: recompute the client status and queue a report."""
        status, self.description = client_status(self.states)
        self._set_status(status, now)

    def _set_status(self, status: str, now: float) -> None:
        """Record a client status change and queue a report."""
        if self._take_status(status):
            self.clients.record(self.alloc, status, now)
        self.clients.mark_dirty(self)

    def _take_status(self, status: str) -> bool:
        """`_set_status` without the row and the report: whether the status changed."""
        if status == self.status:
            return False
        self.status = status
        if status in CLIENT_TERMINAL:
            self.done = True
            if status == ALLOC_CLIENT_FAILED and self.alloc.deployment_id and self.health is None:
                self.health = False  # Nomad: clientAlloc marks a failed deployment alloc without health unhealthy
        return True

    def report(self) -> dict[str, Any]:
        """The changes the client sends the server for this alloc (Nomad: clientAlloc)."""
        self.shared = True
        changes: dict[str, Any] = {"client_status": self.status, "client_description": self.description,
                                   "task_states": self.states}
        if self.health is not None and self.health != self.health_sent:
            changes["healthy"] = self.health_sent = self.health
        return changes


# Timers of runners started together (`RunnerBatch.fire`): (kind, task index, exit code).
_EXIT, _CHECK, _DEADLINE = 0, 1, 2


def start_together(clients: RunnerClient, runners: list[AllocRunner], group: GroupSpec, now: float) -> None:
    """Start runners made by `AllocRunner.borrowing` for allocs of one instant group (all in a
    deployment or all outside one) arriving at `now`: the same as `start` for each in turn.

    They share their tasks and states until each writes. When every task's exit is fixed, every
    runner arms the same timers: each instant gets one timer for all of them (`RunnerBatch`), in
    the place of the first runner's, firing each runner's callbacks in the order `start` armed
    them; the health verdicts the first runner's watch computes hold for all of them.
    """
    health = group.deploy_health if runners[0].alloc.deployment_id else group.migrate_health
    if None in group.exits:  # drawn exits: each runner its own draws and timers
        for runner in runners:
            if health is not None:
                runner._watch_health(now, group.max_start_delay)
            runner._all_started(now)
        return
    due: dict[float, list[tuple[int, int, int]]] = {}  # per instant, the timers of one runner in arming order
    first = None
    if health is not None:  # `_watch_health` and `_all_running` of the first runner
        first = HealthWatch(health, now, group.fail_health)
        deadline = first.begin(now, group.max_start_delay)
        if deadline is not None:
            due.setdefault(deadline, []).append((_DEADLINE, 0, 0))
    for i, fixed in enumerate(group.exits):
        if fixed is not None and fixed[0] is not None:
            due.setdefault(now + fixed[0], []).append((_EXIT, i, fixed[1]))
    watches: list[HealthWatch] = []
    if health is not None and first is not None:
        kind, at = first.on_all_running(now)
        if kind == CHECK:
            due.setdefault(at, []).append((_CHECK, 0, 0))
        elif kind == DEADLINE:
            due.setdefault(at, []).append((_DEADLINE, 0, 0))
        armed, fail_health = first.deadline_armed, group.fail_health
        for runner in runners:
            watch = runner.watch = HealthWatch(health, now, fail_health)
            watch.deadline, watch.deadline_armed = first.deadline, armed  # (one deadline float for the batch)
            watches.append(watch)
        if kind == HEALTHY_NOW:
            for runner in runners:
                runner._set_health(True)
    if due:
        batch = RunnerBatch(runners, watches)
        for when, timers in due.items():
            clients.at(when, RunnerBatch.fire, batch, tuple(timers))
    for runner in runners:
        runner.status, runner.description = RUNNING_STATUS
    clients.record_all(runners, ALLOC_CLIENT_RUNNING, now)
    clients.mark_all_dirty(runners)


class RunnerBatch:
    """Runners started together with the same timers (`start_together`); `watches[k]` is the
    health watch runner k armed its health timers with."""

    __slots__ = ("runners", "watches")

    def __init__(self, runners: list[AllocRunner], watches: list[HealthWatch]):
        self.runners = runners
        self.watches = watches

    def fire(self, timers: tuple[tuple[int, int, int], ...]) -> None:
        """The timers due now, for each runner in turn, as each runner's own timers would fire."""
        after: dict[tuple[int, int], tuple[Any, ...]] = {}  # exits shared by runners in step
        if len(timers) == 1 and timers[0][0] == _EXIT:
            self._exit_all(timers[0][1], timers[0][2], after)
            return
        watches = self.watches
        for k, runner in enumerate(self.runners):
            for kind, i, code in timers:
                if kind == _EXIT:
                    status = runner._exit_in_step(i, code, after)
                    if status is None:
                        runner._exit(0, i, 1, code)
                    else:
                        runner._set_status(status, runner.clients.env.now)
                    continue
                watch = watches[k]  # runner._health_timer(watch, kind == _CHECK):
                if watch is not runner.watch or watch.verdict is not None or runner.done:
                    continue
                healthy = kind == _CHECK
                if healthy and not runner._tasks_running():
                    continue
                runner._set_health(healthy)
                runner.clients.mark_dirty(runner)

    def _exit_all(self, i: int, code: int, after: dict[tuple[int, int], tuple[Any, ...]]) -> None:
        """`fire` of one exit timer: each runner's exit in turn, with the rows and reports of the
        runners exiting in step taken in bulk (`record_all`, `mark_all_dirty`) before any other
        runner's exit, whenever the status changes, and at the end (even on an error), so rows,
        reports and events keep their order."""
        clients = self.runners[0].clients
        now = clients.env.now
        batch: list[AllocRunner] = []  # exited in step to `status`, not reported yet
        changed: list[AllocRunner] = []  # of those, the ones whose status changed (a row each)
        status = ""

        def report() -> None:
            clients.record_all(changed, status, now)
            clients.mark_all_dirty(batch)

        shared: list[TaskRun] | None = None  # the tasks the last runner exiting in step left
        found: tuple[Any, ...] = ()  # and what they became: `after`'s entry
        try:
            for runner in self.runners:
                if runner.tasks is shared and runner.borrowed and not runner.epoch:  # in step with that runner
                    _, runner.tasks, runner.states, new, runner.description = found
                else:
                    tasks = runner.tasks
                    new = runner._exit_in_step(i, code, after)
                    if new is not None:
                        shared, found = tasks, after[(id(tasks), i)]
                if new != status or new is None:
                    if batch:
                        report()
                        batch, changed = [], []
                    if new is None:
                        runner._exit(0, i, 1, code)
                        continue
                    status = new
                if runner._take_status(new):
                    changed.append(runner)
                batch.append(runner)
        finally:
            if batch:
                report()
