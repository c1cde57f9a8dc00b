"""Web view benchmark: page load and per-update cost with 5,000 nodes and 50,000 allocations.

Builds bench_core's cluster (5,000 nodes, 50 service jobs of count 1,000), serves it with the web
view, and drives Debian's Chromium (Playwright) against it:

- load: from navigation to the cluster canvas drawn with every node (and the charts' first points);
- cluster updates: a node drain changes the nodes table; from the write to the page's next render
  of the cluster (blocking query answered, JSON read and parsed, canvas redrawn), and the
  browser's share of it (parse + draw);
- allocation table updates: the same for the allocations view (one page of the 50,000 rows,
  filtered on the server) when a job is stopped (its 1,000 allocations stop);
- the page's own cost per update, without the simulation's work: a re-read of the view (server
  read, transfer, parse, redraw) timed in the browser;
- the server's reads alone (/ui/api/nodes, /ui/api/allocations), for the split.

    python benchmarks/bench_ui.py [--nodes 5000] [--jobs 50] [--count 1000] [--updates 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import scenario  # noqa: E402

from sim.api.http import create_app  # noqa: E402
from sim.simulation import Simulation  # noqa: E402
from sim.ui.web import serving  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

UPDATE = """async ([path, method, write, body]) => {
  const before = window.nomadsim.stats.renders[path] || 0;
  const t = performance.now();
  const r = await fetch(write, {method, body: body === null ? undefined : JSON.stringify(body)});
  if (!r.ok) throw new Error(await r.text());
  await fetch("/v1/sim/advance", {method: "POST", body: JSON.stringify({Seconds: 1})});
  while ((window.nomadsim.stats.renders[path] || 0) === before) {
    if (performance.now() - t > 30000) throw new Error(`no render of ${path} within 30 s`);
    await new Promise(res => setTimeout(res, 2));
  }
  return [performance.now() - t, window.nomadsim.stats.lastMs[path]];
}"""


REFRESH = """async (path) => {
  const before = window.nomadsim.stats.renders[path] || 0;
  const t = performance.now();
  window.nomadsim.refreshAll();
  while ((window.nomadsim.stats.renders[path] || 0) === before) await new Promise(res => setTimeout(res, 1));
  return performance.now() - t;
}"""


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def summary(name: str, values: list[float]) -> dict[str, float]:
    out = {"median_ms": statistics.median(values), "p90_ms": pct(values, 0.9), "max_ms": max(values)}
    print(f"{name:<42} median {out['median_ms']:7.1f} ms   p90 {out['p90_ms']:7.1f} ms   max {out['max_ms']:7.1f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=20, help="updates per view (at most --jobs)")
    parser.add_argument("--chromium", default=os.environ.get("NOMADSIM_CHROMIUM") or shutil.which("chromium"))
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    sim = Simulation.from_scenario(scenario(args.nodes, args.jobs, args.count))
    sim.run(120)
    allocs = sim.state.alloc_count()
    print(f"built {args.nodes} nodes, {allocs} allocations in {time.perf_counter() - t0:.1f} s")
    results: dict[str, object] = {"nodes": args.nodes, "allocations": allocs}
    nodes = iter([n.id for n in sim.state.nodes.nodes])
    jobs = iter([j.id for j in sim.state.jobs(None)])
    with serving(create_app(sim, sim.api)) as url, sync_playwright() as p:
        for path in ("/ui/api/nodes", "/ui/api/allocations"):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                size = len(requests.get(url + path, timeout=60).content)
                times.append((time.perf_counter() - t) * 1000)
            results[f"server {path}"] = summary(f"server {path} ({size / 1e3:.0f} kB)", times)
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        loads = []
        for _ in range(3):
            t = time.perf_counter()
            page.goto(f"{url}/ui/#/cluster")
            page.wait_for_selector(f"#cluster-canvas[data-nodes='{args.nodes}']", timeout=60000)
            loads.append((time.perf_counter() - t) * 1000)
            page.goto("about:blank")
        results["page load (cluster, 5,000 nodes)"] = summary("page load (cluster view)", loads)
        writes = {"cluster": lambda: ["POST", f"/v1/node/{next(nodes)}/drain",
                                      {"DrainSpec": {"Deadline": 3600e9}, "MarkEligible": False}],
                  "allocations": lambda: ["DELETE", f"/v1/job/{next(jobs)}", None]}
        for view, path in (("cluster", "/ui/api/nodes"), ("allocations", "/ui/api/allocations")):
            page.goto(f"{url}/ui/#/{view}")
            page.wait_for_function(f"window.nomadsim && window.nomadsim.stats.renders['{path}'] >= 1", timeout=60000)
            refresh = []
            for _ in range(args.updates):
                page.wait_for_timeout(200)
                refresh.append(page.evaluate(REFRESH, path))
            results[f"update {view} (read + parse + draw)"] = summary(f"update {view}: read + parse + draw", refresh)
            total, browser_side = [], []
            for _ in range(args.updates):
                page.wait_for_timeout(200)  # past the page's render throttle
                whole, mine = page.evaluate(UPDATE, [path, *writes[view]()])
                total.append(whole)
                browser_side.append(mine)
            results[f"update {view} (write to redraw)"] = summary(f"update {view}: write + 1 s simulated + redraw", total)
            results[f"update {view} (browser)"] = summary(f"update {view}: parse + draw (browser)", browser_side)
        browser.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
