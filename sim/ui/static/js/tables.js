// The list views (jobs, allocations, evaluations, deployments): filters that the server applies,
// one page of rows, counts by status; each kept current by a blocking query.

import { app, send, toast, watch } from "./api.js";
import { duration, el, short } from "./format.js";

const TITLES = { jobs: "Jobs", allocations: "Allocations", evaluations: "Evaluations", deployments: "Deployments" };
const FILTERS = { jobs: ["type"], allocations: ["job", "node", "group"], evaluations: ["job", "type"],
                  deployments: ["job"] };
const TIMES = new Set(["SubmitTime", "CreateTime", "ModifyTime", "Latency"]);

export function cellOf(column, value, columns) {
  if (value === null || value === undefined || value === "") return el("td", {}, "–");
  if (column === "ID" && !columns.includes("Running")) return el("td", { class: "id", title: value }, short(value));
  if (column === "JobID" || column === "ID") return el("td", {}, el("a", { href: `#/job/${encodeURIComponent(value)}` }, value));
  if (column === "NodeID") return el("td", { class: "id" }, el("a", { href: `#/node/${value}`, title: value }, short(value)));
  if (column.endsWith("Status") && column !== "StatusDescription") return el("td", {}, el("span", { class: `status ${value}` }, value));
  if (TIMES.has(column)) return el("td", {}, duration(value));
  if (column === "StatusDescription") return el("td", { class: "wrap" }, value);
  if (typeof value === "boolean") return el("td", {}, value ? "yes" : "no");
  return el("td", {}, value);
}

export function renderRows({ Columns, Rows }, extra) {
  const head = el("tr", {}, ...Columns.map((c) => el("th", { scope: "col" }, c)), extra ? el("th", { scope: "col", class: "act" }, "Actions") : null);
  const body = Rows.map((r) => el("tr", {}, ...r.map((v, i) => cellOf(Columns[i], v, Columns)), extra ? el("td", { class: "act" }, extra(r)) : null));
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
}

export const allocTable = (t) => renderRows(t);

export function deploymentActions(row) {
  const [id, , , status] = row;
  if (app.readOnly || !["running", "paused"].includes(status)) return null;
  const act = async (what) => {
    try {
      await send("POST", `/v1/deployment/${what}/${id}`, what === "promote" ? { DeploymentID: id, All: true } : undefined);
      toast(`Deployment ${short(id)}: ${what} requested`);
    } catch (e) { toast(e.message, true); }
  };
  return el("span", {}, el("button", { class: "promote", onclick: () => act("promote") }, "Promote"), " ",
            el("button", { class: "danger fail", onclick: () => act("fail") }, "Fail"));
}

export function tableView(root, kind) {
  const status = el("select", { name: "status" }, el("option", { value: "" }, "any"));
  const q = el("input", { name: "q", type: "search", placeholder: "ID, name, job…" });
  const inputs = FILTERS[kind].map((f) => el("input", { name: f, size: 12 }));
  const limit = el("select", { name: "limit" }, ...["25", "50", "200", "1000"].map((v) => el("option", { value: v, selected: v === "50" }, v)));
  const count = el("p", { class: "count", id: `${kind}-count` });
  const holder = el("div", { id: `${kind}-table` });
  const form = el("form", { class: "filters", role: "search", "aria-label": `Filter ${kind}`, onsubmit: (e) => e.preventDefault() },
    el("label", {}, "Status", status), el("label", {}, "Search", q),
    ...inputs.map((i) => el("label", {}, i.name === "type" && kind === "evaluations" ? "triggered by" : i.name, i)),
    el("label", {}, "Rows", limit));
  root.replaceChildren(el("h2", {}, TITLES[kind]), form, count, holder);
  const params = () => Object.fromEntries([status, q, limit, ...inputs].map((i) => [i.name, i.value]));
  const w = watch(`/ui/api/${kind}`, params, (data) => {
    const keep = status.value;
    status.replaceChildren(el("option", { value: "" }, "any"),
      ...Object.entries(data.Counts).map(([s, n]) => el("option", { value: s, selected: s === keep }, `${s} (${n})`)));
    if (keep && !(keep in data.Counts)) status.append(el("option", { value: keep, selected: true }, `${keep} (0)`));
    count.textContent = `${data.Total} ${kind}` + (data.Total > data.Rows.length ? `, newest ${data.Rows.length} shown` : "");
    holder.replaceChildren(renderRows(data, kind === "deployments" ? deploymentActions : null));
  });
  let timer;
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(w.refresh, 200); });
  form.addEventListener("change", () => w.refresh());
  return w.stop;
}
