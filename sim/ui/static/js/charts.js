// Small line charts on canvas that grow as simulated time advances (only new points are fetched).

import { get } from "./api.js";
import { DASHES, LINES } from "./colour.js";
import { duration } from "./format.js";

const CHARTS = [
  { id: "chart-util", series: [["CpuUtilisation", "CPU"], ["MemoryUtilisation", "memory"]], max: 1, pct: true },
  { id: "chart-evals", series: [["PendingEvals", "pending"], ["BlockedEvals", "blocked"]] },
  { id: "chart-latency", series: [["LatencyMean", "mean"], ["LatencyMax", "max"]] },
];

export class Charts {
  constructor() { this.reset(); }

  reset() {
    this.data = { Time: [] };
    for (const c of CHARTS) for (const [k] of c.series) this.data[k] = [];
  }

  async update(at = null) {
    if (at !== null && this.data.Time.length && this.data.Time[this.data.Time.length - 1] > at) this.reset();  // scrubbed back
    const times = this.data.Time;
    const since = times.length ? times[times.length - 1] : -1;
    const { data } = await get("/ui/api/series", { since });
    for (const k of Object.keys(this.data)) this.data[k].push(...data[k]);
    this.draw();
  }

  draw() {
    for (const c of CHARTS) drawChart(document.getElementById(c.id), this.data.Time, c, this.data);
  }
}

function drawChart(canvas, times, chart, data) {
  const dpr = window.devicePixelRatio || 1, W = 320, H = 130;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const L = 38, R = 6, T = 16, B = 16;
  let max = chart.max ?? 0;
  if (!chart.max) for (const [k] of chart.series) for (const v of data[k]) if (v !== null && v > max) max = v;
  max = max || 1;
  const t0 = times[0] ?? 0, t1 = Math.max(times[times.length - 1] ?? 1, t0 + 1);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R), y = (v) => H - B - (v / max) * (H - T - B);
  ctx.strokeStyle = "#d4d6db"; ctx.fillStyle = "#5c5f66"; ctx.font = "10px system-ui, sans-serif"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillText(chart.pct ? "100%" : fmt(max), 2, T + 4);
  ctx.fillText(chart.pct ? "0%" : "0", 2, H - B);
  ctx.fillText(duration(t0), L, H - 3);
  const end = duration(t1);
  ctx.fillText(end, W - R - ctx.measureText(end).width, H - 3);
  chart.series.forEach(([k, label], i) => {
    ctx.strokeStyle = LINES[i]; ctx.setLineDash(DASHES[i]); ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    data[k].forEach((v, j) => {
      if (v === null) { pen = false; return; }
      if (pen) ctx.lineTo(x(times[j]), y(v)); else ctx.moveTo(x(times[j]), y(v));
      pen = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = LINES[i];
    data[k].forEach((v, j) => {  // a point with no neighbour draws no line: mark it
      if (v !== null && data[k][j - 1] == null && data[k][j + 1] == null) ctx.fillRect(x(times[j]) - 1.5, y(v) - 1.5, 3, 3);
    });
    const lx = L + 8 + i * 90;
    ctx.strokeStyle = LINES[i]; ctx.setLineDash(DASHES[i]);
    ctx.beginPath(); ctx.moveTo(lx, 8); ctx.lineTo(lx + 18, 8); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#1b1b1f"; ctx.fillText(label, lx + 22, 11);
  });
  const last = times.length - 1;
  canvas.setAttribute("aria-label", `${canvas.getAttribute("aria-label").split(":")[0]}: ` +
    chart.series.map(([k, label]) => `${label} ${last >= 0 && data[k][last] !== null ? fmt(data[k][last]) : "–"}`).join(", "));
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));
