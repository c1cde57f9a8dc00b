// Run a job: paste JSON or HCL, plan it (HCL goes through /v1/jobs/parse; the plan's diff and
// placement failures come from /v1/job/:id/plan), then submit it with /v1/jobs.

import { send, toast } from "./api.js";
import { el } from "./format.js";

const EXAMPLE = `job "web-ui" {
  datacenters = ["*"]
  type = "service"
  group "web" {
    count = 3
    task "server" {
      driver = "docker"
      config { image = "nginx:1.27" }
      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
`;

export function runView(root) {
  const text = el("textarea", { id: "job-spec", spellcheck: "false", "aria-describedby": "spec-help" }, EXAMPLE);
  const planBtn = el("button", { id: "plan", type: "button" }, "Plan");
  const runBtn = el("button", { id: "submit-job", type: "button", disabled: true }, "Run");
  const out = el("section", { id: "plan-output", "aria-live": "polite" });
  let planned = null;
  root.replaceChildren(el("h2", {}, "Run a job"),
    el("label", { for: "job-spec" }, "Job specification (HCL, or JSON as the Jobs API takes it)"),
    el("p", { id: "spec-help", class: "count" }, "Plan first: the diff against the running version and any placement failures are shown before you run it."),
    text, el("p", {}, planBtn, " ", runBtn), out);
  text.addEventListener("input", () => { runBtn.disabled = true; planned = null; });

  planBtn.addEventListener("click", async () => {
    try {
      const job = await parse(text.value);
      const plan = await send("POST", `/v1/job/${encodeURIComponent(job.ID)}/plan`, { Job: job, Diff: true });
      planned = job;
      runBtn.disabled = false;
      out.replaceChildren(el("h3", {}, `Plan for ${job.ID}`), el("div", { class: "diff", id: "plan-diff" }, ...diffLines(plan.Diff)),
                          ...updates(plan.Annotations), ...failures(plan.FailedTGAllocs));
    } catch (e) { out.replaceChildren(el("p", { class: "status failed", role: "alert" }, e.message)); }
  });
  runBtn.addEventListener("click", async () => {
    try {
      const res = await send("POST", "/v1/jobs", { Job: planned });
      toast(`Job ${planned.ID} registered (evaluation ${res.EvalID.slice(0, 8)})`);
      location.hash = `#/job/${encodeURIComponent(planned.ID)}`;
    } catch (e) { toast(e.message, true); }
  });
}

async function parse(source) {
  const t = source.trim();
  if (t.startsWith("{")) {
    let data;
    try { data = JSON.parse(t); } catch (e) { throw new Error(`JSON: ${e.message}`); }
    return data.Job ?? data;
  }
  return send("POST", "/v1/jobs/parse", { JobHCL: source, Canonicalize: true });
}

const SIGN = { Added: "+", Deleted: "-", Edited: "+/-", None: " " };

function diffLines(diff, depth = 0, label = "Job") {
  if (!diff) return [];
  const pad = "  ".repeat(depth);
  const line = (type, text) => el("div", { class: type.toLowerCase() }, `${pad}${SIGN[type] ?? " "} ${text}`);
  const name = diff.ID ?? (label === diff.Name ? "" : diff.Name);
  const out = [line(diff.Type, `${label}${name ? `: "${name}"` : ""}${diff.Updates ? "  (" + Object.entries(diff.Updates).map(([k, v]) => `${v} ${k}`).join(", ") + ")" : ""}`)];
  for (const f of diff.Fields ?? []) {
    if (f.Type === "None") continue;
    const value = f.Type === "Added" ? `"${f.New}"` : f.Type === "Deleted" ? `"${f.Old}"` : `"${f.Old}" => "${f.New}"`;
    out.push(el("div", { class: f.Type.toLowerCase() }, `${pad}  ${SIGN[f.Type]} ${f.Name}: ${value}${f.Annotations ? "  (" + f.Annotations.join(", ") + ")" : ""}`));
  }
  for (const o of diff.Objects ?? []) if (o.Type !== "None") out.push(...diffLines(o, depth + 1, o.Name));
  for (const g of diff.TaskGroups ?? []) out.push(...diffLines({ ...g, ID: g.Name }, depth + 1, "Task Group"));
  for (const t of diff.Tasks ?? []) out.push(...diffLines({ ...t, ID: t.Name }, depth + 1, `Task${t.Annotations ? " (" + t.Annotations.join(", ") + ")" : ""}`));
  return out;
}

function updates(annotations) {
  const groups = annotations?.DesiredTGUpdates ?? {};
  return Object.entries(groups).map(([g, u]) => el("p", { class: "count" }, `Group ${g}: ` +
    Object.entries(u).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(", ")));
}

function failures(failed) {
  return Object.entries(failed ?? {}).map(([g, m]) => el("p", { class: "status failed" },
    `Group ${g} would not be placed fully: ${m.NodesEvaluated} nodes evaluated, ${m.NodesExhausted} exhausted` +
    (m.DimensionExhausted ? ` (${Object.entries(m.DimensionExhausted).map(([k, v]) => `${k}: ${v}`).join(", ")})` : "")));
}
