"""Tests of sim.scheduler.policies: loading, checking, the built-ins, and custom policies steering placements."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sim.errors import SimError
from sim.scheduler.feasible.rank import normalise
from sim.scheduler.policies import (
    Candidates,
    GroupAsk,
    Policy,
    load_policy,
    policy,
    tetris,
    worst_fit,
)
from sim.simulation import Simulation

HERE = __name__  # how policies in this file are named: f"{HERE}:prefer_ssd"


@policy(columns=["meta.ssd"])
def prefer_ssd(nodes, ask):
    """Nodes tagged ssd=true score 1, the others -1 (set aside by the limit iterator)."""
    return np.where(nodes["meta.ssd"] == "true", 1.0, -1.0)


def raises(nodes, ask):
    """A broken policy."""
    raise ZeroDivisionError("boom")


def too_big(nodes, ask):
    """Scores out of range."""
    return np.full(nodes.size, 2.0)


def wrong_shape(nodes, ask):
    """One score too many."""
    return np.zeros(nodes.size + 1)


def scenario(count: int = 4, policy_spec: str | None = None, jobs: int = 1) -> dict:
    """Five nodes (two tagged ssd=true) and `jobs` service jobs of `count` small allocations."""
    nodes = [
        {"count": 3, "name_prefix": "hdd", "resources": {"cpu": 4000, "memory": 4096}},
        {"count": 2, "name_prefix": "ssd", "resources": {"cpu": 4000, "memory": 4096}, "meta": {"ssd": "true"}},
    ]
    task = {"Name": "app", "Driver": "docker", "Config": {"image": "x"}, "Resources": {"CPU": 500, "MemoryMB": 256}}
    job = lambda i: {"ID": f"web-{i}", "Type": "service", "Datacenters": ["dc1"],  # noqa: E731
                     "TaskGroups": [{"Name": "web", "Count": count, "Tasks": [task]}]}
    control = {"policy": policy_spec} if policy_spec else {}
    return {"name": "policy", "seed": 1, "duration": "2m", "cluster": {"nodes": nodes},
            "control_plane": control, "workload": [{"at": f"{i}s", "register": job(i)} for i in range(jobs)]}


def placements(data: dict, seed: int = 1) -> Counter:
    """Node name prefix -> allocations placed there, after the run."""
    sim = Simulation.from_scenario(data, seed=seed)
    sim.run()
    return Counter(a.node_name for a in sim.state.allocs() if not a.terminal())


def candidates(used: list[list[float]], cap: list[list[float]]) -> Candidates:
    """A candidate table over explicit usage and capacity rows."""
    used_a, cap_a = np.array(used, dtype=float), np.array(cap, dtype=float)
    cols = {"cpu_used": used_a[:, 0], "memory_used": used_a[:, 1], "disk_used": used_a[:, 2],
            "cpu_capacity": cap_a[:, 0], "memory_capacity": cap_a[:, 1], "disk_capacity": cap_a[:, 2]}
    return Candidates(len(used), cols, {})


def ask(cpu: float = 1000, memory: float = 1000, disk: float = 0) -> GroupAsk:
    return GroupAsk("j", "service", 50, "g", 1, cpu, memory, disk, np.random.default_rng(0))


# -- loading -------------------------------------------------------------------------------------


def test_load_policy_resolves_builtin_names_and_module_paths():
    """Built-in names and module:function both load to the same function."""
    assert load_policy("tetris").fn is tetris
    assert load_policy("sim.scheduler.policies:worst_fit").fn is worst_fit
    assert load_policy("worst-fit").name == "worst-fit"
    assert load_policy("") is None and load_policy(None) is None


@pytest.mark.parametrize("spec, words", [
    ("no_such_module_xyz:score", "cannot import module"),
    ("sim.scheduler.policies:nope", "has no function 'nope'"),
    ("justaname", "expected 'module:function'"),
])
def test_load_policy_errors_name_the_spec(spec, words):
    """A policy that cannot be found is a SimError naming it."""
    with pytest.raises(SimError, match=words) as info:
        load_policy(spec)
    assert spec in str(info.value)


def test_policy_decorator_rejects_unknown_mode_and_columns():
    """Only append/fit modes and meta./attr. columns are accepted."""
    with pytest.raises(SimError, match="mode"):
        policy(mode="sideways")
    with pytest.raises(SimError, match="meta"):
        policy(columns=["rack"])


# -- built-ins -----------------------------------------------------------------------------------


def test_worst_fit_prefers_the_emptiest_node():
    """worst-fit scores a node higher the more it has free after the placement."""
    nodes = candidates([[3000, 3000, 0], [0, 0, 0]], [[4000, 4000, 1000]] * 2)
    scores = worst_fit(nodes, ask())
    assert scores[1] > scores[0]
    assert scores[1] == pytest.approx(0.75)


def test_tetris_is_the_normalised_dot_product_of_ask_and_free():
    """tetris = mean over cpu, memory of (ask / cap) * (free / cap)."""
    nodes = candidates([[2000, 0, 0]], [[4000, 4000, 1000]])
    score = tetris(nodes, ask(cpu=1000, memory=2000))
    assert score[0] == pytest.approx(((0.25 * 0.5) + (0.5 * 1.0)) / 2)


class _Table:
    """A one-node stand-in for NodeTable.column."""

    def column(self, target):
        return np.array(["x"], dtype=object), np.array([True])


class _Job:
    id, type, priority = "j", "service", 50


class _Tg:
    name = "g"
    tasks: list = []


def score_with(fn) -> np.ndarray:
    """Score one candidate node through Policy.score (as the stack does)."""
    return Policy(fn, fn.__name__).score(_Table(), np.array([0]), np.ones((1, 3)), np.full((1, 3), 4.0),
                                         np.zeros(1), _Job(), _Tg(), np.ones(3), 1, np.random.default_rng(0))


@pytest.mark.parametrize("fn, words", [(too_big, "outside"), (wrong_shape, "shape"), (raises, "ZeroDivisionError: boom")])
def test_policy_scores_are_checked(fn, words):
    """Wrong shapes, out-of-range scores and raising policies fail with the policy's name."""
    with pytest.raises(SimError, match=words) as info:
        score_with(fn)
    assert fn.__name__ in str(info.value)


def test_candidates_carry_usage_before_the_placement_and_declared_columns():
    """used = proposed usage without this ask; string columns come from the node table."""
    seen = {}

    def spy(nodes, ask):
        seen.update(cpu_used=nodes["cpu_used"][0], name=nodes["name"][0], keys=set(nodes))
        return np.zeros(nodes.size)

    score_with(spy)
    assert seen["cpu_used"] == 0.0 and seen["name"] == "x"
    assert {"id", "datacenter", "binpack", "memory_capacity"} <= seen["keys"]


# -- where the score enters the chain --------------------------------------------------------------


def test_appended_policy_score_is_averaged_like_node_affinity():
    """In append mode the final score is the mean of binpack and the policy score."""
    scores = normalise(np.array([0.4]), None, None, None, None, np.array([-1.0]), False)
    assert scores.final[0] == pytest.approx((0.4 - 1.0) / 2)


def test_fit_policy_replaces_the_binpack_score():
    """In fit mode the policy score stands where BinPack's was."""
    scores = normalise(np.array([0.4]), None, None, np.array([0.5]), None, np.array([0.9]), True)
    assert scores.final[0] == pytest.approx((0.9 + 0.5) / 2)


# -- end to end ------------------------------------------------------------------------------------


def test_custom_policy_preferring_a_meta_tag_places_everything_there():
    """A policy preferring ssd=true nodes puts every allocation on them when they fit."""
    without = placements(scenario())
    assert any(name.startswith("hdd") for name in without)
    with_policy = placements(scenario(policy_spec=f"{HERE}:prefer_ssd"))
    assert sum(with_policy.values()) == 4
    assert all(name.startswith("ssd") for name in with_policy), with_policy


def test_meta_policy_yields_when_the_tagged_nodes_are_full():
    """When the tagged nodes are full the remaining allocations still go elsewhere."""
    got = placements(scenario(count=18, policy_spec=f"{HERE}:prefer_ssd"))
    assert sum(got.values()) == 18
    assert sum(n for name, n in got.items() if name.startswith("ssd")) == 16  # 8 of 500 MHz per 4000 MHz node


def test_worst_fit_spreads_where_binpack_packs():
    """Over single-allocation jobs, worst-fit uses more nodes than binpack, which stacks them."""
    packed = placements(scenario(count=1, jobs=6))
    spread = placements(scenario(count=1, jobs=6, policy_spec="sim.scheduler.policies:worst_fit"))
    assert sum(spread.values()) == sum(packed.values()) == 6
    assert len(spread) > len(packed), (spread, packed)


def test_random_policy_is_reproducible_by_seed():
    """The random policy draws from the scheduler stream: same seed, same placements."""
    data = scenario(count=5, policy_spec="sim.scheduler.policies:random")
    assert placements(data, seed=3) == placements(data, seed=3)


def test_score_metadata_names_the_policy():
    """Allocations record the policy's score under its name."""
    sim = Simulation.from_scenario(scenario(policy_spec=f"{HERE}:prefer_ssd"))
    sim.run()
    meta = sim.state.allocs()[0].metrics.score_meta_data[0]
    assert "prefer_ssd" in meta.scores


def test_failing_policy_fails_the_run_naming_it():
    """A policy that raises stops the run with a SimError naming the policy."""
    sim = Simulation.from_scenario(scenario(policy_spec=f"{HERE}:raises"))
    with pytest.raises(SimError, match=f"policy '{HERE}:raises' failed: ZeroDivisionError"):
        sim.run()
