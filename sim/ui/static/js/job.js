// A job page: status and stop, versions, summary per task group, allocations per group,
// deployments (promote / fail) and the deployment timeline.

import { app, send, toast, watch } from "./api.js";
import { LINES } from "./colour.js";
import { duration, el } from "./format.js";
import { deploymentActions, renderRows } from "./tables.js";

const SUMMARY = ["Queued", "Starting", "Running", "Complete", "Failed", "Lost"];
const SHOWN = 50;  // allocations listed per task group

export function jobView(root, jobId) {
  const title = el("h2", {}, "Job ", el("span", { id: "job-id" }, jobId), " ", el("span", { id: "job-status", class: "status" }));
  const stop = el("button", { id: "stop-job", class: "danger act", onclick: async () => {
    if (!confirm(`Stop job ${jobId}?`)) return;
    try { await send("DELETE", `/v1/job/${encodeURIComponent(jobId)}`); toast(`Job ${jobId} stopped`); } catch (e) { toast(e.message, true); }
  } }, "Stop job");
  const body = el("div", {});
  root.replaceChildren(title, el("p", { class: "act" }, stop), body);
  const missing = (e) => {
    if (!e.message.startsWith("404")) return false;
    body.replaceChildren(el("p", { class: "count" }, `No job ${jobId} at this time (it appears once registered).`));
    return true;
  };
  const w = watch(`/ui/api/job/${encodeURIComponent(jobId)}`, () => ({}), (job) => {
    const badge = root.querySelector("#job-status");
    badge.textContent = job.Status; badge.className = `status ${job.Status}`;
    stop.disabled = job.Stop === true;
    const versions = el("table", {}, el("thead", {}, el("tr", {}, ...["Version", "Stable", "Submitted", "Groups"].map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, ...job.Versions.map((v) => el("tr", {}, el("td", {}, v.Version), el("td", {}, v.Stable === null ? "–" : v.Stable ? "yes" : "no"),
        el("td", {}, duration(v.SubmitTime)), el("td", {}, Object.entries(v.Groups).map(([g, n]) => `${g}×${n}`).join(", ") || "–")))));
    const summary = el("table", { id: "job-summary" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Group"), ...SUMMARY.map((c) => el("th", { scope: "col" }, c)))),
      el("tbody", {}, ...Object.entries(job.Summary).map(([g, s]) => el("tr", {}, el("td", {}, g), ...SUMMARY.map((c) => el("td", {}, s[c]))))));
    const byGroup = new Map();
    for (const r of job.Allocations.Rows) { if (!byGroup.has(r[3])) byGroup.set(r[3], []); byGroup.get(r[3]).push(r); }
    body.replaceChildren(
      el("p", {}, `${job.Type} · priority ${job.Priority} · version ${job.Version}`),
      el("div", { class: "cols" }, el("section", {}, el("h3", {}, "Summary"), summary), el("section", {}, el("h3", {}, "Versions"), versions)),
      el("h3", {}, "Deployments"), renderRows(job.Deployments, deploymentActions),
      el("h3", {}, "Deployment timeline"), timeline(job.Timeline),
      el("h3", {}, "Allocations"),
      ...[...byGroup.entries()].map(([g, rows]) => el("section", { class: "group" },
        el("h4", {}, `${g}: ${rows.length} allocation(s)`, rows.length > SHOWN ? el("span", { class: "count" }, ` (newest ${SHOWN}; `,
          el("a", { href: `#/allocations` }, "the Allocations view"), " filters them all)") : null),
        renderRows({ Columns: job.Allocations.Columns, Rows: rows.slice(-SHOWN).reverse() }))));
  }, missing);
  return w.stop;
}

function timeline(events) {
  if (!events.length) return el("p", { class: "count" }, "No deployments yet.");
  const ns = "http://www.w3.org/2000/svg", W = 800, H = 110, pad = 64, LABELS = [36, 84, 20, 100];
  const t0 = events[0].Time, t1 = Math.max(events[events.length - 1].Time, t0 + 1);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (W - 2 * pad);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Deployment timeline");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  add("line", { x1: pad, x2: W - pad, y1: 60, y2: 60, stroke: "#8a8f99" });
  const deployments = [...new Set(events.map((e) => e.DeploymentID))];
  events.forEach((e, i) => {
    const c = LINES[deployments.indexOf(e.DeploymentID) % LINES.length];
    const mark = add("circle", { cx: x(e.Time), cy: 60, r: 6, fill: c, stroke: "#1b1b1f" });
    mark.append(Object.assign(document.createElementNS(ns, "title"), { textContent: `${duration(e.Time)} v${e.JobVersion}: ${e.Status} — ${e.Description}` }));
    add("text", { x: x(e.Time), y: LABELS[i % LABELS.length], "text-anchor": "middle", "font-size": 11 }, `v${e.JobVersion} ${e.Status}`);
  });
  add("text", { x: 2, y: 64, "font-size": 10, fill: "#5c5f66" }, duration(t0));
  add("text", { x: W - 2, y: 64, "font-size": 10, fill: "#5c5f66", "text-anchor": "end" }, duration(t1));
  const list = el("ol", { class: "count" }, ...events.map((e) => el("li", {}, `${duration(e.Time)} · v${e.JobVersion} · ${e.Status}: ${e.Description}`)));
  return el("div", { class: "timeline" }, svg, list);
}
