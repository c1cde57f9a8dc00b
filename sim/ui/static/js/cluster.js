// The cluster: every node as a canvas cell coloured by its allocated CPU or memory (viridis),
// grouped by datacenter, node pool and class; status shown by the cell's mark. Click or Enter on
// a cell opens the node: its allocations and the drain / fail actions.

import { app, send, toast, watch } from "./api.js";
import { viridis } from "./colour.js";
import { el } from "./format.js";
import { allocTable } from "./tables.js";

const STATES = ["ready", "draining", "ineligible", "down", "disconnected", "initializing"];

export function clusterView(root, nodeId) {
  let nodes = null, layout = [], focus = 0, stopNode = null;
  const colourBy = el("select", { id: "colour-by", onchange: draw }, el("option", { value: "Cpu" }, "CPU"),
                      el("option", { value: "Memory" }, "memory"));
  const groupBy = el("select", { id: "group-by", onchange: draw },
    ...[["all", "datacenter / pool / class"], ["Datacenter", "datacenter"], ["NodePool", "node pool"],
        ["NodeClass", "class"]].map(([v, t]) => el("option", { value: v }, t)));
  const onlyState = el("select", { id: "only-state", onchange: draw }, el("option", { value: "" }, "all"),
                       ...STATES.map((s) => el("option", { value: s }, s)));
  const canvas = el("canvas", { id: "cluster-canvas", tabindex: "0", role: "img",
                                "aria-label": "Cluster nodes; arrow keys move between nodes, Enter opens one" });
  const summary = el("p", { id: "node-summary", class: "count", "aria-live": "polite" });
  const tip = el("div", { class: "tip" });
  const panel = el("section", { id: "node-panel", "aria-live": "polite" });
  root.replaceChildren(el("h2", {}, "Cluster"),
    el("div", { class: "filters" }, el("label", {}, "Colour by", colourBy), el("label", {}, "Group by", groupBy),
       el("label", {}, "Show state", onlyState)),
    legend(), summary, canvas, tip, panel);

  function draw() {
    if (!nodes) return;
    const n = nodes.ID.length, width = canvas.clientWidth || 800, dpr = window.devicePixelRatio || 1;
    const size = Math.max(5, Math.min(22, Math.floor(Math.sqrt((width * 480) / Math.max(n, 1)))));
    const key = groupBy.value, groups = new Map();
    for (let i = 0; i < n; i++) {
      const k = key === "all" ? `${nodes.Datacenter[i]} / ${nodes.NodePool[i]} / ${nodes.NodeClass[i] || "(no class)"}`
                              : nodes[key][i] || "(none)";
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(i);
    }
    const cols = Math.max(1, Math.floor((width - 4) / size)), head = 18;
    let height = 4;
    for (const members of groups.values()) height += head + Math.ceil(members.length / cols) * size + 6;
    canvas.width = width * dpr; canvas.height = height * dpr; canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    layout = new Array(n);
    let y = 4;
    const used = nodes[`${colourBy.value}Used`], total = nodes[`${colourBy.value}Total`];
    const counts = {};
    for (const [name, members] of [...groups.entries()].sort()) {
      ctx.fillStyle = "#1b1b1f";
      ctx.fillText(`${name} (${members.length})`, 2, y + 12);
      y += head;
      members.forEach((i, j) => {
        const x = 2 + (j % cols) * size, cy = y + Math.floor(j / cols) * size;
        layout[i] = [x, cy, size];
        const state = nodes.State[i];
        counts[state] = (counts[state] || 0) + 1;
        cell(ctx, x, cy, size, state, total[i] ? used[i] / total[i] : 0, onlyState.value && state !== onlyState.value);
      });
      y += Math.ceil(members.length / cols) * size + 6;
    }
    if (layout[focus] && document.activeElement === canvas) {
      const [x, cy, s] = layout[focus];
      ctx.strokeStyle = "#e69f00"; ctx.lineWidth = 2; ctx.strokeRect(x, cy, s - 1, s - 1);
    }
    canvas.dataset.nodes = n;
    summary.textContent = `${n} nodes: ` + STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ");
  }

  const hit = (ev) => {
    const r = canvas.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    return layout.findIndex((c) => c && px >= c[0] && px < c[0] + c[2] && py >= c[1] && py < c[1] + c[2]);
  };
  canvas.addEventListener("click", (ev) => { const i = hit(ev); if (i >= 0) { focus = i; location.hash = `#/node/${nodes.ID[i]}`; } });
  canvas.addEventListener("mousemove", (ev) => {
    const i = hit(ev);
    if (i < 0) { tip.style.display = "none"; return; }
    const pct = (u, t) => (t ? `${Math.round((100 * u) / t)}%` : "–");
    tip.textContent = `${nodes.Name[i]} · ${nodes.State[i]} · CPU ${pct(nodes.CpuUsed[i], nodes.CpuTotal[i])} · memory ${pct(nodes.MemoryUsed[i], nodes.MemoryTotal[i])}`;
    Object.assign(tip.style, { display: "block", left: `${ev.clientX + 12}px`, top: `${ev.clientY + 12}px` });
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  canvas.addEventListener("focus", draw);
  canvas.addEventListener("blur", draw);
  canvas.addEventListener("keydown", (ev) => {
    if (!nodes) return;
    const cols = Math.max(1, Math.floor((canvas.clientWidth - 4) / (layout[0]?.[2] || 10)));
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[ev.key];
    if (move) { focus = Math.max(0, Math.min(nodes.ID.length - 1, focus + move)); ev.preventDefault(); draw(); announce(); }
    if (ev.key === "Enter") location.hash = `#/node/${nodes.ID[focus]}`;
  });
  const announce = () => { canvas.setAttribute("aria-label", `Node ${nodes.Name[focus]}, ${nodes.State[focus]}; Enter opens it`); };

  // The static columns come once (and again only if the node rows change); updates carry states and usage.
  const stop = watch("/ui/api/nodes", () => ({ static: nodes?.Static }), (data) => {
    nodes = { ...(data.ID ? data : nodes), ...data, State: data.State.map((c) => data.States[c]) };
    draw();
  });
  const resize = () => draw();
  window.addEventListener("resize", resize);
  if (nodeId) stopNode = nodePanel(panel, nodeId);
  return () => { stop.stop(); stopNode?.(); window.removeEventListener("resize", resize); };
}

function cell(ctx, x, y, s, state, fraction, dim) {
  const inner = s - 1;
  ctx.globalAlpha = dim ? 0.15 : 1;
  if (state === "down" || state === "disconnected" || state === "initializing") {
    ctx.fillStyle = state === "down" ? "#3a3a3a" : "#9a9a9a";
    ctx.fillRect(x, y, inner, inner);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(x + 1, y + 1); ctx.lineTo(x + inner - 1, y + inner - 1);
    ctx.moveTo(x + inner - 1, y + 1); ctx.lineTo(x + 1, y + inner - 1); ctx.stroke();
  } else {
    ctx.fillStyle = viridis(fraction);
    ctx.fillRect(x, y, inner, inner);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = Math.max(1, s / 8);
    if (state === "draining") {
      ctx.beginPath(); ctx.moveTo(x, y + inner); ctx.lineTo(x + inner, y); ctx.stroke();
    } else if (state === "ineligible") {
      ctx.strokeRect(x + 1.5, y + 1.5, inner - 3, inner - 3);
    }
  }
  ctx.globalAlpha = 1;
}

function legend() {
  const ramp = el("canvas", { width: 120, height: 12, "aria-hidden": "true" });
  const c = ramp.getContext("2d");
  for (let i = 0; i < 120; i++) { c.fillStyle = viridis(i / 119); c.fillRect(i, 0, 1, 12); }
  const mark = (state) => {
    const m = el("canvas", { width: 14, height: 14, "aria-hidden": "true" });
    cell(m.getContext("2d"), 0, 0, 14, state, 0.5, false);
    return el("span", {}, m, ` ${state}`);
  };
  return el("div", { class: "legend" }, el("span", {}, "0% ", ramp, " 100% allocated"),
            ...["ready", "draining", "ineligible", "down"].map(mark));
}

function nodePanel(panel, nodeId) {
  const actions = el("div", { class: "filters act" });
  const info = el("p", {});
  const allocs = el("div", {});
  panel.replaceChildren(el("h3", {}, "Node ", el("span", { id: "node-name" }, nodeId)), info, actions, allocs);
  const act = async (label, method, path, body) => {
    try { await send(method, path, body); toast(`${label}: done`); } catch (e) { toast(e.message, true); }
  };
  const w = watch(`/ui/api/node/${encodeURIComponent(nodeId)}`, () => ({}), (n) => {
    panel.querySelector("#node-name").textContent = n.Name;
    info.replaceChildren(`${n.State} · ${n.Datacenter} / ${n.NodePool} / ${n.NodeClass || "(no class)"} · `,
                         el("code", {}, n.ID));
    const live = n.Allocations.Rows.filter((r) => !["complete", "failed", "lost"].includes(r[6])).length;
    if (!app.readOnly) {
      actions.replaceChildren(
        n.Drain ? el("button", { id: "undrain", onclick: () => act("Drain stopped", "POST", `/v1/node/${n.ID}/drain`, { DrainSpec: null, MarkEligible: true }) }, "Stop drain")
                : el("button", { id: "drain", onclick: () => act("Drain started", "POST", `/v1/node/${n.ID}/drain`, { DrainSpec: { Deadline: 3600e9, IgnoreSystemJobs: false }, MarkEligible: false }) }, "Drain node"),
        n.Status === "down" ? el("button", { id: "node-up", onclick: () => act("Node up", "POST", `/v1/sim/nodes/${n.ID}/up`, {}) }, "Bring node up")
                            : el("button", { id: "fail-node", class: "danger", onclick: () => act("Node failed", "POST", `/v1/sim/nodes/${n.ID}/down`, {}) }, "Fail node"));
    }
    allocs.replaceChildren(el("p", { class: "count" }, `${live} live allocation(s), ${n.Allocations.Rows.length} in all`),
                           allocTable(n.Allocations));
  });
  return w.stop;
}
