"""The web view in a real browser, against a served simulation: the acceptance of issue 19."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from sim.api.http import create_app
from sim.experiments.run import run_to_folder
from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.ui.web import serving, view_app

from .conftest import screenshot

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "scenarios"
HCL = """job "hello" {
  datacenters = ["*"]
  group "web" {
    count = 3
    task "server" {
      driver = "docker"
      config { image = "nginx:1.27" }
      resources {
        cpu    = 300
        memory = 128
      }
    }
  }
}
"""


def open_page(page: Any, url: str, view: str = "cluster") -> None:
    page.goto(f"{url}/ui/#/{view}")
    page.wait_for_selector("body[data-ready]")


def advance(page: Any, by: str, to_seconds: float) -> None:
    """Advance simulated time from the page's controls; wait until the clock shows it."""
    page.fill("#advance-by", by)
    page.click("#advance")
    page.wait_for_function(f"Number(document.getElementById('clock').dataset.seconds) >= {to_seconds}")


def served(scenario: str | dict, clock: str = "manual", speed: float = 1.0) -> Any:
    sim = Simulation.from_scenario(scenario if isinstance(scenario, dict) else SCENARIOS / scenario)
    return sim, serving(create_app(sim, sim.api, clock, speed))


def test_cluster_view_shows_every_node(page: Any) -> None:
    scenario = load_scenario(SCENARIOS / "quickstart.yaml").to_dict()
    scenario["cluster"]["nodes"].append({**scenario["cluster"]["nodes"][0], "count": 7, "name_prefix": "gpu",
                                         "node_class": "gpu", "datacenter": "dc2"})
    sim, server = served(scenario)
    with server as url:
        open_page(page, url)
        page.wait_for_selector("#cluster-canvas[data-nodes='17']")
        advance(page, "2m", 120)
        assert page.inner_text("#node-summary").startswith("17 nodes: 17 ready")
        screenshot(page, "cluster")
        page.focus("#cluster-canvas")  # keyboard: arrows move between cells, Enter opens the node
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_selector("#node-panel >> text=live allocation(s)")
        assert page.inner_text("#node-name") == sim.state.nodes.nodes[1].name


def test_registering_a_job_from_the_page_places_it(page: Any) -> None:
    sim, server = served("quickstart.yaml")
    with server as url:
        open_page(page, url, "run")
        page.fill("#job-spec", HCL)
        page.click("#plan")
        page.wait_for_selector("#plan-diff")
        diff = page.inner_text("#plan-diff")
        assert '+ Job: "hello"' in diff and "3 create" in diff
        screenshot(page, "run-job-plan")
        page.click("#submit-job")
        page.wait_for_selector("#job-id:text('hello')")
        advance(page, "1m", 60)
        page.goto(f"{url}/ui/#/allocations")
        page.fill("input[name=job]", "hello")
        page.wait_for_function("document.getElementById('allocations-count')?.textContent.startsWith('3 allocations')")
        assert page.locator("#allocations-table tbody tr").count() == 3
        assert page.locator("#allocations-table tbody tr:has-text('running')").count() == 3
        assert len([a for a in sim.state.allocs() if a.job_id == "hello" and a.client_status == "running"]) == 3


def test_a_canary_deployment_is_promoted_from_the_page(page: Any) -> None:
    sim, server = served("canary-autorevert.yaml")
    with server as url:
        open_page(page, url, "job/api")
        advance(page, "31m", 31 * 60)  # the 30m update's canary is healthy and waits for promotion
        page.wait_for_selector("text=Deployment is running but requires manual promotion")
        screenshot(page, "job-canary", full_page=True)
        page.click("button.promote")
        advance(page, "1m", 32 * 60)  # before the scenario's own promotion at 35m
        page.goto(f"{url}/ui/#/deployments")
        page.wait_for_selector("#deployments-table tbody tr:first-child:has-text('successful')")
        latest = max(sim.state.deployments(), key=lambda d: d.create_time)
        assert (latest.job_version, latest.status) == (3, "successful")
        assert all(g.promoted for g in latest.task_groups.values())
        assert sim.now < 35 * 60


def test_a_node_drain_from_the_page_moves_its_allocations(page: Any) -> None:
    sim, server = served("quickstart.yaml")
    with server as url:
        requests.post(f"{url}/v1/sim/advance", json={"Seconds": 90}, timeout=30).raise_for_status()
        busy = next(a.node_id for a in sim.state.allocs() if a.job_id == "web" and a.client_status == "running")
        moved = {a.id for a in sim.state.allocs_by_node(busy) if a.job_id == "web" and a.client_status == "running"}
        open_page(page, url, f"node/{busy}")
        page.click("#drain")
        advance(page, "3m", 90 + 180)
        page.wait_for_selector("#node-panel >> text=0 live allocation(s)")
        screenshot(page, "node-drained")
        assert sim.state.node_by_id(busy).drain or sim.state.node_by_id(busy).scheduling_eligibility == "ineligible"
        running = [a for a in sim.state.allocs() if a.job_id == "web" and a.client_status == "running"]
        assert len(running) == sum(g.count for g in sim.state.job_by_id("default", "web").task_groups)
        assert all(a.node_id != busy for a in running)
        assert all(sim.state.alloc_by_id(a).desired_status == "stop" for a in moved)


def test_failing_a_node_from_the_page_marks_it_down(page: Any) -> None:
    sim, server = served("quickstart.yaml")
    with server as url:
        node = sim.state.nodes.nodes[0]
        open_page(page, url, f"node/{node.id}")
        page.click("#fail-node")
        advance(page, "2m", 120)  # the server notices after the heartbeat TTL
        page.wait_for_selector("#node-up")
        assert node.status == "down"
        page.goto(f"{url}/ui/#/cluster")
        page.wait_for_function("document.getElementById('node-summary')?.textContent.includes('1 down')")


def test_realtime_clock_runs_without_the_play_button(page: Any) -> None:
    sim, server = served("quickstart.yaml", clock="realtime", speed=60)
    with server as url:
        open_page(page, url)
        assert page.is_disabled("#play")
        page.wait_for_function("Number(document.getElementById('clock').dataset.seconds) >= 60", timeout=20000)
        assert "realtime" in page.inner_text("#mode")


def test_manual_clock_plays_and_pauses(page: Any) -> None:
    sim, server = served("quickstart.yaml")
    with server as url:
        open_page(page, url, "jobs")
        page.select_option("#speed", "600")
        page.click("#play")
        page.wait_for_function("Number(document.getElementById('clock').dataset.seconds) >= 300")
        page.click("#play")
        stopped = sim.now
        page.wait_for_timeout(600)
        assert sim.now - stopped <= 600 * 0.25 + 1e-9  # at most the step in flight
        assert page.locator("#jobs-table tbody tr").count() == 2


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "canary"
    run_to_folder(load_scenario(SCENARIOS / "canary-autorevert.yaml"), out, seed=3, until=3600.0)
    return out


def test_view_of_a_recorded_run_is_read_only_and_scrubs(page: Any, recorded_run: Path) -> None:
    with serving(view_app(recorded_run)) as url:
        open_page(page, url)
        page.wait_for_selector("#cluster-canvas[data-nodes='6']")
        assert "read-only" in page.inner_text("#mode")
        assert not page.is_visible("nav a.act")
        screenshot(page, "view-cluster")
        page.goto(f"{url}/ui/#/job/api")
        page.wait_for_selector("#job-summary")
        assert not page.is_visible("#stop-job")
        page.eval_on_selector("#scrub", "e => { e.value = 700; e.dispatchEvent(new Event('input')); }")
        page.wait_for_selector("text=Deployment is running but requires manual promotion")
        assert page.locator("button.promote").count() == 0
        screenshot(page, "view-job", full_page=True)
        page.eval_on_selector("#scrub", "e => { e.value = 1300; e.dispatchEvent(new Event('input')); }")
        page.wait_for_selector("text=rolling back to job version 0")


def test_node_states_and_groups_on_a_mixed_cluster(page: Any) -> None:
    """Two node classes, a draining node and a down node: the summary names each state (README figure)."""
    sim, server = served("mixed.yaml")
    with server as url:
        requests.post(f"{url}/v1/sim/advance", json={"Seconds": 50 * 60}, timeout=120).raise_for_status()
        general = [n for n in sim.state.nodes.nodes if n.node_class == "general"]
        requests.post(f"{url}/v1/sim/nodes/{general[7].id}/down", json={}, timeout=30).raise_for_status()
        requests.post(f"{url}/v1/sim/advance", json={"Seconds": 40}, timeout=120).raise_for_status()  # heartbeat TTL
        requests.post(f"{url}/v1/node/{general[3].id}/drain", json={"DrainSpec": {"Deadline": 3600e9}},
                      timeout=30).raise_for_status()
        page.set_viewport_size({"width": 1180, "height": 560})
        open_page(page, url)
        page.select_option("#group-by", "NodeClass")
        page.wait_for_function("document.getElementById('node-summary')?.textContent.includes('1 down')")
        summary = page.inner_text("#node-summary")
        assert summary.startswith("25 nodes:") and "1 draining" in summary
        screenshot(page, "cluster-mixed")
