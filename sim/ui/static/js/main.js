// The page: reads the run's status (live or recorded), sets up time controls and charts, and
// routes #/cluster, #/node/ID, #/jobs, #/job/ID, #/allocations, #/evaluations, #/deployments, #/run.

import { app, get, refreshAll, stats, toast } from "./api.js";
import { Charts } from "./charts.js";
import { clusterView } from "./cluster.js";
import { jobView } from "./job.js";
import { runView } from "./run.js";
import { tableView } from "./tables.js";
import { timeControls } from "./time.js";

let stopView = null;

function route() {
  const view = document.getElementById("view");
  const [, name = "cluster", ...rest] = location.hash.replace(/^#/, "").split("/");
  const arg = decodeURIComponent(rest.join("/"));
  stopView?.();
  stopView = null;
  if (name === "job") stopView = jobView(view, arg);
  else if (name === "node") stopView = clusterView(view, arg);
  else if (["jobs", "allocations", "evaluations", "deployments"].includes(name)) stopView = tableView(view, name);
  else if (name === "run" && !app.readOnly) runView(view);
  else stopView = clusterView(view, null);
  const current = name === "node" ? "cluster" : name === "job" ? "jobs" : name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${current}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function boot() {
  try {
    const { data } = await get("/ui/api/status");
    Object.assign(app, { readOnly: data.ReadOnly, end: data.End, clock: data.Clock ?? "recorded", speed: data.Speed ?? 1,
                         at: data.ReadOnly ? data.End : null });
    document.getElementById("run-name").textContent = data.Name;
    document.getElementById("mode").textContent = data.ReadOnly ? "recorded run (read-only)" : `live · ${app.clock} clock`;
    document.body.classList.toggle("read-only", data.ReadOnly);
    document.title = `nomadsim · ${data.Name}`;
  } catch (e) { toast(e.message, true); return; }
  timeControls(new Charts());
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";
  window.nomadsim = { app, stats, refreshAll };
}

boot();
