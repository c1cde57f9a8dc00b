"""Invariants of the whole engine over many seeded random workloads with node failures.

Each case builds a small scenario from its seed (random node groups with reserved resources and
narrow dynamic port ranges; service, batch and system jobs with static and dynamic ports, failing
tasks, rolling updates; job updates and stops; node down/up and drain events, plus random node
failures driven by a SimPy process), runs it in steps and checks, after every state write and at
sampled times, what must always hold: no node over its capacity net of reserved in any dimension
(recounted from the allocs, and the NodeTable columns agree), no host port given twice on a node,
no alloc stuck in an impossible state, job summaries equal to a recount of allocs (Nomad's
updateSummaryWithAlloc rules) and job status equal to a re-derivation (Nomad's getJobStatus).
The oracles here re-derive everything from first principles; they never call the engine's own
bookkeeping helpers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pytest

from sim.simulation import Simulation

N_CASES = 40
SECOND = 1_000_000_000
CLIENT_TERMINAL = {"complete", "failed", "lost"}
CLIENT_LIVE = {"pending", "running", "unknown"}
SERVER_TERMINAL = {"stop", "evict"}
EVAL_TERMINAL = {"complete", "failed", "canceled"}
DEPLOYMENT_ACTIVE = {"running", "paused", "blocked", "unblocking", "initializing", "pending"}
STATIC_PORTS = (8080, 8081, 9090)
MAX_PLANS_PER_EVAL = 25  # 5 service attempts, reset only when a plan makes progress
STOP_GRACE = 10.0  # seconds a stopped alloc may keep running on a live node (kill + report)
LOST_GRACE = 120.0  # seconds allocs may stay live on a node the server knows is down


# --- the workload generator -----------------------------------------------------------------
# Node failures come three ways: scenario events (node_down/node_up, node_drain, random_failures),
# short blips with a job change in the middle, and the test's own SimPy failure process.


def _duration(rng: np.random.Generator, low: int, high: int) -> str:
    return f"{int(rng.integers(low, high))}s"


def _network(rng: np.random.Generator) -> dict | None:
    net: dict = {}
    if rng.random() < 0.45:
        values = rng.choice(STATIC_PORTS, size=int(rng.integers(1, 3)), replace=False)
        net["ReservedPorts"] = [{"Label": f"s{k}", "Value": int(v)} for k, v in enumerate(values)]
    if rng.random() < 0.6:
        net["DynamicPorts"] = [{"Label": f"d{k}"} for k in range(int(rng.integers(1, 3)))]
    return net or None


def _task(rng: np.random.Generator, name: str, kind: str) -> dict:
    meta = {}
    if kind in ("batch", "sysbatch"):
        meta["sim.runtime"] = _duration(rng, 20, 500)
    if rng.random() < 0.2:
        meta["sim.fail_after"] = _duration(rng, 10, 400)
    if rng.random() < 0.1:
        meta["sim.start_delay"] = _duration(rng, 1, 20)
    return {"Name": name, "Driver": "docker", "Config": {"image": "busybox"}, "Meta": meta,
            "Resources": {"CPU": int(rng.integers(50, 1500)), "MemoryMB": int(rng.integers(32, 1500))}}


def _group(rng: np.random.Generator, name: str, kind: str) -> dict:
    tasks = [_task(rng, f"t{i}", kind) for i in range(int(rng.integers(1, 3)))]
    group = {
        "Name": name,
        "Count": 1 if kind == "system" else int(rng.integers(1, 7)),
        "Tasks": tasks,
        "EphemeralDisk": {"SizeMB": int(rng.integers(150, 900))},
        "RestartPolicy": {"Attempts": int(rng.integers(0, 3)), "Interval": 300 * SECOND,
                          "Delay": int(rng.integers(1, 10)) * SECOND, "Mode": "fail"},
    }
    network = _network(rng)
    if network:
        group["Networks"] = [network]
    if kind == "service" and rng.random() < 0.4:
        group["Update"] = {"MaxParallel": int(rng.integers(1, 3)), "MinHealthyTime": 5 * SECOND,
                           "HealthyDeadline": 60 * SECOND, "ProgressDeadline": 120 * SECOND,
                           "AutoRevert": bool(rng.random() < 0.5), "Canary": int(rng.integers(0, 2))}
    if kind == "service" and rng.random() < 0.3:
        group["ReschedulePolicy"] = {"Attempts": int(rng.integers(0, 3)), "Interval": 600 * SECOND,
                                     "Delay": 5 * SECOND, "DelayFunction": "constant", "Unlimited": False}
    return group


def generate_job(rng: np.random.Generator, job_id: str) -> dict:
    """A random job in Nomad's JSON form."""
    kind = str(rng.choice(["service", "batch", "system"], p=[0.55, 0.37, 0.08]))
    groups = [_group(rng, f"g{i}", kind) for i in range(int(rng.integers(1, 3)))]
    return {"ID": job_id, "Type": kind, "Datacenters": ["dc1"], "Priority": int(rng.integers(20, 90)),
            "TaskGroups": groups}


def _node_groups(rng: np.random.Generator) -> list[dict]:
    groups = []
    for k in range(int(rng.integers(1, 3))):
        low = int(rng.integers(20000, 20100))
        groups.append({
            "count": int(rng.integers(2, 6)),
            "name_prefix": f"n{k}",
            "resources": {"cpu": int(rng.choice([2000, 4000, 8000])), "memory": int(rng.choice([2048, 4096, 8192])),
                          "disk": int(rng.choice([4096, 8192, 20000]))},
            "reserved": {"cpu": int(rng.integers(0, 300)), "memory": int(rng.integers(0, 512)),
                         "disk": int(rng.integers(0, 1024)), "ports": str(rng.choice(["22", "22,8080", ""]))},
            "port_range": {"min": low, "max": low + int(rng.integers(2, 10))},
        })
    return groups


def _job_changes(rng: np.random.Generator, job_ids: list[str], jobs: dict[str, dict]) -> list[dict]:
    """Later updates (count, resources, a new static port) and stops of registered jobs."""
    items = []
    for job_id in job_ids:
        r, at = rng.random(), int(rng.integers(600, 1500))
        group = jobs[job_id]["TaskGroups"][0]
        if r < 0.2 and jobs[job_id]["Type"] != "system":
            items.append({"at": at, "update": {"job": job_id, "set": {"TaskGroups.g0.Count": int(rng.integers(0, 8))}}})
        elif r < 0.4:
            cpu = int(rng.integers(50, 1500))
            items.append({"at": at, "update": {"job": job_id, "set": {"TaskGroups.g0.Tasks.t0.Resources.CPU": cpu}}})
        elif r < 0.5 and "Networks" not in group:
            port = [{"Label": "late", "Value": int(rng.choice(STATIC_PORTS))}]
            items.append({"at": at, "update": {"job": job_id, "set": {"TaskGroups.g0.Networks": [{"ReservedPorts": port}]}}})
        elif r < 0.65:
            items.append({"at": at, "deregister": {"job": job_id}})
    return items


def _blips(rng: np.random.Generator, names: list[str], job_ids: list[str]) -> tuple[list[dict], list[dict]]:
    """Nodes down for less than the heartbeat TTL, with a job stopped or updated meanwhile."""
    events, changes = [], []
    for _ in range(int(rng.integers(0, 3))):
        node, at = str(rng.choice(names)), int(rng.integers(650, 1500))  # after every register
        events += [{"at": at, "node_down": node}, {"at": at + int(rng.integers(2, 8)), "node_up": node}]
        job_id = str(rng.choice(job_ids))
        if rng.random() < 0.5:
            changes.append({"at": at + 1, "deregister": {"job": job_id}})
        else:
            cpu = int(rng.integers(50, 1500))
            changes.append({"at": at + 1, "update": {"job": job_id, "set": {"TaskGroups.g0.Tasks.t0.Resources.CPU": cpu}}})
    return events, changes


def _node_events(rng: np.random.Generator, names: list[str]) -> list[dict]:
    events = []
    for _ in range(int(rng.integers(0, 4))):
        node, at = str(rng.choice(names)), int(rng.integers(30, 1600))
        events.append({"at": at, "node_down": node})
        if rng.random() < 0.7:
            events.append({"at": at + int(rng.integers(2, 300)), "node_up": node})
    if rng.random() < 0.3:
        events.append({"at": int(rng.integers(100, 1500)), "node_drain": [str(rng.choice(names))],
                       "deadline": _duration(rng, 10, 300)})
    if rng.random() < 0.3:
        events.append({"random_failures": {"mtbf": f"{int(rng.integers(30, 120))}m", "mttr": _duration(rng, 5, 300),
                                           "start": _duration(rng, 0, 900)}})
    return events


def generate_scenario(seed: int) -> dict:
    """A small random scenario (scenario language) built from `seed`."""
    rng = np.random.default_rng([7, seed])
    groups = _node_groups(rng)
    names = [f"{g['name_prefix']}-{i}" for g in groups for i in range(g["count"])]
    job_ids = [f"job{i}" for i in range(int(rng.integers(3, 9)))]
    jobs = {job_id: generate_job(rng, job_id) for job_id in job_ids}
    workload = [{"at": int(rng.integers(0, 600)), "register": jobs[j]} for j in job_ids]
    workload += _job_changes(rng, job_ids, jobs)
    events = _node_events(rng, names)
    if rng.random() < 0.5:
        blips, changes = _blips(rng, names, job_ids)
        events, workload = events + blips, workload + changes
    return {
        "name": f"invariants-{seed}", "seed": seed, "duration": "30m",
        "cluster": {"nodes": groups},
        "control_plane": {"num_schedulers": int(rng.integers(1, 4))},
        "workload": workload,
        "events": events,
        "metrics": {"sample_every": "5s"},
    }


def random_failures(sim: Simulation, rng: np.random.Generator, mtbf: float, mttr: float):
    """A SimPy process: each failure picks a live node, takes it down and brings it back later."""
    env, nodes = sim.env, sim.state.nodes.nodes
    while True:
        yield env.timeout(float(rng.exponential(mtbf)))
        up = [n.id for n in nodes if n.id not in sim.clients.down]
        if not up:
            continue
        node_id = up[int(rng.integers(len(up)))]
        sim.clients.node_down(node_id)
        env.process(_recover(sim, node_id, float(rng.exponential(mttr))))


def _recover(sim: Simulation, node_id: str, after: float):
    yield sim.env.timeout(after)
    sim.clients.node_up(node_id)


# --- the oracles ----------------------------------------------------------------------------


def group_ask(alloc) -> tuple[int, int, int]:
    """(cpu, memory, disk) the alloc's job version asks for its group."""
    tg = next(g for g in alloc.job.task_groups if g.name == alloc.task_group)
    disk = tg.ephemeral_disk.size_mb if tg.ephemeral_disk is not None else 0
    return sum(t.resources.cpu for t in tg.tasks), sum(t.resources.memory_mb for t in tg.tasks), disk


def port_spec(spec: str) -> set[int]:
    """Ports of a Nomad port spec ("22,8000-8002")."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def capacity_violations(sim: Simulation) -> list[str]:
    """Capacity, ports and NodeTable agreement, recounted from the non-terminal allocs."""
    state, table = sim.state, sim.state.nodes
    used: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    ports: dict[str, Counter] = defaultdict(Counter)
    for alloc in state.allocs():
        if alloc.terminal():
            continue
        used[alloc.node_id] += (alloc.cpu, alloc.memory_mb, alloc.disk_mb)
        ports[alloc.node_id].update(p for _, p in alloc.ports)
    out = []
    for row, node in enumerate(table.nodes):
        cap = np.array([node.resources.cpu - node.reserved.cpu, node.resources.memory_mb - node.reserved.memory_mb,
                        node.resources.disk_mb - node.reserved.disk_mb], dtype=float)
        mine = used[node.id]
        for dim, u, c in zip(("cpu", "memory", "disk"), mine, cap, strict=True):
            if u > c:
                out.append(f"{node.name}: {dim} used {u:g} > capacity {c:g}")
        if not np.allclose(table.used[row], mine) or not np.allclose(table.cap[row], cap):
            out.append(f"{node.name}: NodeTable used {table.used[row]} cap {table.cap[row]} != recount {mine} {cap}")
        reserved = port_spec(node.reserved.reserved_ports)
        twice = sorted(p for p, n in ports[node.id].items() if n > 1 or p in reserved)
        if twice:
            out.append(f"{node.name}: host ports given twice {twice}")
        if table.used_ports[row] != reserved | set(ports[node.id]):
            out.append(f"{node.name}: NodeTable ports {sorted(table.used_ports[row])} != {sorted(reserved | set(ports[node.id]))}")
    return out


def alloc_violations(alloc, node, ask_ports) -> list[str]:
    """One alloc: statuses, its resources equal its group's ask, its ports match the ask."""
    out = []
    if alloc.client_status not in CLIENT_TERMINAL | CLIENT_LIVE or alloc.desired_status not in SERVER_TERMINAL | {"run"}:
        out.append(f"{alloc.name}: impossible status {alloc.desired_status}/{alloc.client_status}")
    if (alloc.cpu, alloc.memory_mb, alloc.disk_mb) != group_ask(alloc):
        out.append(f"{alloc.name}: reserves {(alloc.cpu, alloc.memory_mb, alloc.disk_mb)} != ask {group_ask(alloc)}")
    static, dynamic = ask_ports
    got = dict(alloc.ports)
    if len(got) != len(alloc.ports) or set(got) != set(static) | set(dynamic):
        out.append(f"{alloc.name}: port labels {sorted(got)} != ask {sorted(set(static) | set(dynamic))}")
    for label, port in alloc.ports:
        if label in static and port != static[label]:
            out.append(f"{alloc.name}: static port {label}={port}, asked {static[label]}")
        if label in dynamic and not node.min_dynamic_port <= port <= node.max_dynamic_port:
            out.append(f"{alloc.name}: dynamic port {port} outside [{node.min_dynamic_port}, {node.max_dynamic_port}]")
    return out


def ports_asked(alloc) -> tuple[dict[str, int], set[str]]:
    """(static label -> value, dynamic labels) of the alloc's group network."""
    tg = next(g for g in alloc.job.task_groups if g.name == alloc.task_group)
    if not tg.networks:
        return {}, set()
    net = tg.networks[0]
    static = {p.label: p.value for p in net.reserved_ports if p.value}
    dynamic = {p.label for p in net.reserved_ports if not p.value} | {p.label for p in net.dynamic_ports}
    return static, dynamic


def expected_summary(state, job, summary) -> dict[str, dict[str, int]]:
    """Per-group counters recounted from the allocs of the job's current instance.

    Nomad: state_store.go updateSummaryWithAlloc: starting/running/lost/unknown are current
    counts; complete and failed are cumulative (an alloc never leaves them).
    """
    buckets = {"pending": "starting", "running": "running", "lost": "lost", "unknown": "unknown",
               "complete": "complete", "failed": "failed"}
    out = {tg: dict.fromkeys(buckets.values(), 0) for tg in summary.summary}
    for alloc in state.allocs_by_job(job.namespace, job.id):
        if alloc.job.create_index != summary.create_index:
            continue
        out.setdefault(alloc.task_group, dict.fromkeys(buckets.values(), 0))
        out[alloc.task_group][buckets[alloc.client_status]] += 1
    return out


def expected_job_status(state, job) -> str:
    """Nomad: state_store.go getJobStatus (docs/fidelity.md#job-status-and-summaries)."""
    parameterized = job.parameterized_job is not None and not job.dispatched
    if job.type == "system" or parameterized or job.periodic is not None:
        return "dead" if job.stop else "running"
    if any(not a.terminal() for a in state.allocs_by_job(job.namespace, job.id)):
        return "running"
    if any(d.status in DEPLOYMENT_ACTIVE for d in state.deployments_by_job(job.namespace, job.id)):
        return "running"
    evals = [e for e in state.evals() if e.namespace == job.namespace and e.job_id == job.id]
    if any(e.status not in EVAL_TERMINAL for e in evals):
        return "pending"
    return "dead" if evals or job.stop else "pending"


def job_violations(state) -> list[str]:
    """Job summaries against a recount, job status against a re-derivation."""
    out = []
    for job in state.jobs(None):
        summary = state.job_summary(job.namespace, job.id)
        if summary is None:
            out.append(f"{job.id}: no summary")
            continue
        want = expected_summary(state, job, summary)
        for tg, counts in want.items():
            group = summary.summary.get(tg)
            got = {k: getattr(group, k) for k in counts} if group is not None else None
            if got != counts:
                out.append(f"{job.id}/{tg}: summary {got} != recount {counts}")
            if group is not None and group.queued < 0:
                out.append(f"{job.id}/{tg}: queued {group.queued} < 0")
        status = expected_job_status(state, job)
        if job.status != status:
            out.append(f"{job.id}: status {job.status!r} != derived {status!r}")
    return out


@dataclass
class Checker:
    """Checks one simulation after every state write and at sampled times."""

    sim: Simulation
    violations: list[str] = field(default_factory=list)
    writes: int = 0
    last_index: int = 0
    stop_seen: dict[str, float] = field(default_factory=dict)

    def on_write(self, index: int, _tables: frozenset[str]) -> None:
        """Every write: the index grows and no node is over capacity or gives a port twice."""
        self.writes += 1
        if index <= self.last_index:
            self._fail(f"index went from {self.last_index} to {index}")
        self.last_index = index
        for message in capacity_violations(self.sim):
            self._fail(message)

    def _fail(self, message: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(f"t={self.sim.now:.3f}: {message}")

    def check(self) -> None:
        """The full set of invariants, at the current simulated time."""
        sim, state = self.sim, self.sim.state
        for message in capacity_violations(sim) + job_violations(state):
            self._fail(message)
        self._check_evals()
        for alloc in state.allocs():
            node = state.node_by_id(alloc.node_id)
            for message in alloc_violations(alloc, node, ports_asked(alloc)):
                self._fail(message)
            if not (alloc.create_index <= alloc.modify_index <= state.index):
                self._fail(f"{alloc.name}: indexes {alloc.create_index}/{alloc.modify_index} vs {state.index}")
            self._check_liveness(alloc, node)

    def _check_evals(self) -> None:
        """Known statuses, and no pending eval forgotten: the broker tracks each one (ready,
        unacked, delayed or pending behind its job's eval) until it is processed or canceled."""
        broker = self.sim.server.broker
        tracked = set(broker._dequeues) | {e.id for e in broker.cancelable}  # internals: no public view
        for ev in self.sim.state.evals():
            if ev.status not in EVAL_TERMINAL | {"pending", "blocked"}:
                self._fail(f"eval {ev.id[:8]} ({ev.triggered_by}): impossible status {ev.status!r}")
            if ev.status == "pending" and ev.id not in tracked:
                self._fail(f"eval {ev.id[:8]} ({ev.triggered_by}) of {ev.job_id} is pending but not in the broker")

    def _check_liveness(self, alloc, node) -> None:
        """No alloc stuck: a stopped alloc on a live node dies within the kill time; a node the
        server knows is down holds no live alloc for long; a live alloc on a live node has a runner."""
        sim, now = self.sim, self.sim.now
        node_dead = alloc.node_id in sim.clients.down
        if alloc.server_terminal() and alloc.client_status in CLIENT_LIVE and not node_dead:
            first = self.stop_seen.setdefault(alloc.id, now)
            if now - first > STOP_GRACE:
                self._fail(f"{alloc.name} on {node.name}: desired {alloc.desired_status} but client "
                           f"{alloc.client_status} since t={first:.1f}")
        if node.status == "down" and not alloc.terminal() and now - node.status_updated_at > LOST_GRACE:
            self._fail(f"{alloc.name}: still {alloc.client_status} on {node.name}, down since {node.status_updated_at}")
        if not alloc.terminal() and not node_dead and alloc.id not in sim.clients.runners:
            self._fail(f"{alloc.name}: {alloc.client_status} on live node {node.name} but no client runs it")


@dataclass
class Outcome:
    """What one case did: violations and a few counts that show what it exercised."""

    violations: list[str]
    statuses: Counter
    writes: int
    max_plans: int
    ports: int
    node_downs: int


def _transition_violations(table) -> list[str]:
    """Status transitions (allocations table): the client status never leaves complete or failed."""
    out = []
    for alloc_id, rows in table.groupby("alloc_id", sort=True):
        raw = list(rows.sort_values("time", kind="stable")["client_status"])
        seq = [s for i, s in enumerate(raw) if i == 0 or s != raw[i - 1]]  # desired-only changes repeat it
        ended = [i for i, s in enumerate(seq) if s in ("complete", "failed")]
        if ended and ended[0] != len(seq) - 1:
            out.append(f"alloc {alloc_id}: client transitions {seq}")
    return out


@cache
def run_case(seed: int) -> Outcome:
    """Build, run in steps and check one generated scenario."""
    sim = Simulation.from_scenario(generate_scenario(seed), seed=seed)
    checker = Checker(sim)
    sim.state.subscribe(checker.on_write)
    downs = []
    down = sim.clients.node_down
    sim.clients.node_down = lambda node_id: (downs.append(node_id), down(node_id))[1]
    rng = np.random.default_rng([11, seed])
    sim.env.process(random_failures(sim, rng, mtbf=float(rng.uniform(200, 900)), mttr=float(rng.uniform(5, 200))))
    for t in sorted(rng.uniform(1, sim.scenario.duration, size=12)) + [sim.scenario.duration]:
        sim.run(float(t))
        checker.check()
    tables = sim.results()
    checker.violations += _transition_violations(tables["allocations"])
    usage = tables["node_usage"]
    for dim in ("cpu", "memory", "disk"):
        over = usage[usage[f"{dim}_allocated"] > usage[f"{dim}_capacity"]]
        if len(over):
            checker.violations.append(f"node_usage: {dim} over capacity in {len(over)} samples")
    allocs = sim.state.allocs()
    return Outcome(
        violations=checker.violations,
        statuses=Counter(a.client_status for a in allocs),
        writes=checker.writes,
        max_plans=int(tables["evaluations"]["plans"].max()) if len(tables["evaluations"]) else 0,
        ports=sum(1 for a in allocs if a.ports),
        node_downs=len(downs),
    )


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(N_CASES))
def test_generated_workload_keeps_invariants(seed: int) -> None:
    """Capacity, ports, alloc states, summaries and job status hold throughout a random run."""
    outcome = run_case(seed)
    assert outcome.violations == []
    assert outcome.writes > 0


@pytest.mark.parametrize("seed", range(N_CASES))
def test_no_evaluation_loops_on_plan_retries(seed: int) -> None:
    """Every eval submits a bounded number of plans (retry limit reset only on progress)."""
    assert run_case(seed).max_plans <= MAX_PLANS_PER_EVAL


def test_generated_workloads_exercise_failures_ports_and_every_outcome() -> None:
    """Across the cases, allocs complete, fail, get lost and still run; ports and node failures occur."""
    outcomes = [run_case(seed) for seed in range(N_CASES)]
    statuses = sum((o.statuses for o in outcomes), Counter())
    assert {"complete", "failed", "lost", "running"} <= set(statuses)
    assert sum(o.ports for o in outcomes) > 50
    assert sum(1 for o in outcomes if o.node_downs) >= N_CASES // 2


def test_generator_is_deterministic_and_varied() -> None:
    """The same seed gives the same scenario; different seeds give different ones."""
    assert generate_scenario(3) == generate_scenario(3)
    assert len({repr(generate_scenario(s)) for s in range(10)}) == 10
    kinds = {job["register"]["Type"] for s in range(N_CASES) for job in generate_scenario(s)["workload"] if "register" in job}
    assert kinds == {"service", "batch", "system"}


# --- the oracles catch what they should -------------------------------------------------------


def _settled_case() -> Simulation:
    sim = Simulation.from_scenario(generate_scenario(0), seed=0)
    sim.run(900)
    return sim


def test_capacity_oracle_catches_overcommit_and_column_drift() -> None:
    """Inflating an alloc's reservation or a usage column is reported."""
    sim = _settled_case()
    assert capacity_violations(sim) == []
    live = next(a for a in sim.state.allocs() if not a.terminal())
    live.cpu += 10**6
    messages = capacity_violations(sim)
    assert any("cpu used" in m for m in messages) and any("NodeTable used" in m for m in messages)


def test_port_oracle_catches_a_port_given_twice() -> None:
    """Two live allocs sharing a host port on one node are reported."""
    sim = _settled_case()
    by_node = defaultdict(list)
    for a in sim.state.allocs():
        if not a.terminal():
            by_node[a.node_id].append(a)
    first, second = next(v for v in by_node.values() if len(v) >= 2)[:2]
    first.ports.append(("x", 31999))
    second.ports.append(("y", 31999))
    assert any("given twice [31999]" in m for m in capacity_violations(sim))


def test_summary_and_status_oracles_catch_drift() -> None:
    """A summary counter or a job status changed behind the engine's back is reported."""
    sim = _settled_case()
    assert job_violations(sim.state) == []
    job = sim.state.jobs(None)[0]
    group = next(iter(sim.state.job_summary(job.namespace, job.id).summary.values()))
    group.running += 1
    job.status = "bogus"
    messages = job_violations(sim.state)
    assert any("summary" in m for m in messages) and any("status 'bogus'" in m for m in messages)


def test_failed_alloc_keeps_its_followup_eval() -> None:
    """A failed alloc whose reschedule is delayed records the follow-up eval in state.

    Regression: the in-place path of the plan commit dropped FollowupEvalID, so every eval of the
    job re-planned the same attribute update; with the alloc's node down the plan was rejected
    forever and the worker looped (thousands of plans for one eval).
    """
    job = {"ID": "flaky", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Count": 1, "RestartPolicy": {"Attempts": 0, "Mode": "fail", "Interval": 60 * SECOND, "Delay": SECOND},
        "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"CPU": 100, "MemoryMB": 64},
                   "Meta": {"sim.fail_after": "10s"}}]}]}
    sim = Simulation.from_scenario({"name": "flaky", "duration": "10m", "cluster": {"nodes": [
        {"count": 2, "resources": {"cpu": 1000, "memory": 1024}}]}, "workload": [{"at": 0, "register": job}]}, seed=1)
    sim.run(15)
    failed = [a for a in sim.state.allocs() if a.client_status == "failed"]
    assert failed and all(a.followup_eval_id for a in failed)
    followups = {e.id: e for e in sim.state.evals()}
    assert all(followups[a.followup_eval_id].wait_until for a in failed)


def test_alloc_stopped_while_its_node_was_away_is_killed_on_return() -> None:
    """A job stopped during a node blip shorter than the heartbeat TTL ends complete, not running.

    Regression: the returning client only restarted live allocs and forgot the stopped ones, which
    stayed `running` on the server forever.
    """
    job = {"ID": "web", "Type": "service", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Count": 1, "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}
    sim = Simulation.from_scenario({
        "name": "blip", "duration": "10m", "cluster": {"nodes": [{"count": 1, "resources": {"cpu": 1000, "memory": 1024}}]},
        "workload": [{"at": 0, "register": job}, {"at": 102, "deregister": {"job": "web"}}],
        "events": [{"at": 100, "node_down": "node-0"}, {"at": 105, "node_up": "node-0"}]}, seed=1)
    sim.run(120)
    [alloc] = sim.state.allocs()
    assert (alloc.desired_status, alloc.client_status) == ("stop", "complete")
    assert sim.state.job_summary("default", "web").summary["g"].running == 0
