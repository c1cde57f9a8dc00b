// Talking to the server: reads of /ui/api (blocking queries when live, `at=` when recorded) and
// writes through Nomad's /v1 API.

export const app = { readOnly: false, at: null, clock: "manual", speed: 1, end: 0 };
// Renders per read path and the last one's cost (response body read, parse and render, in ms):
// what benchmarks/bench_ui.py measures.
export const stats = { renders: {}, lastMs: {} };

function rendered(path, since) {
  stats.renders[path] = (stats.renders[path] || 0) + 1;
  stats.lastMs[path] = performance.now() - since;
}
const watchers = new Set();

function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  if (app.readOnly && app.at !== null && path.startsWith("/ui/api/")) q.set("at", app.at);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function get(path, params = {}, signal) {
  const res = await fetch(url(path, params), { signal });
  const arrived = performance.now();
  if (!res.ok) throw new Error(`${res.status}: ${(await res.text()).trim()}`);
  return { data: await res.json(), index: Number(res.headers.get("X-Nomad-Index") || 0), arrived };
}

export async function send(method, path, body) {
  const res = await fetch(path, { method, headers: { "Content-Type": "application/json" },
                                  body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}: ${text.trim()}`);
  return text ? JSON.parse(text) : null;
}

// Keep `render` fed with the read at `path`: live, a loop of blocking queries (`index`, `wait`)
// that returns when the tables behind the read change; recorded, one read per change of `at`.
// Returns a stop function.
// `failed(error)` may take an error over (returning true); otherwise it is shown as a toast.
export function watch(path, params, render, failed = () => false) {
  const w = { stopped: false, ctl: null, index: 0 };
  const once = async () => {
    w.ctl?.abort();
    w.ctl = new AbortController();
    try {
      const { data, arrived } = await get(path, params(), w.ctl.signal);
      if (!w.stopped) { render(data); rendered(path, arrived); }
    } catch (e) { if (e.name !== "AbortError" && !failed(e)) toast(e.message, true); }
  };
  const loop = async () => {
    while (!w.stopped) {
      w.ctl = new AbortController();
      try {
        const p = { ...params(), ...(w.index ? { index: w.index, wait: "60s" } : {}) };
        const { data, index, arrived } = await get(path, p, w.ctl.signal);
        if (w.stopped) return;
        const changed = index !== w.index;
        w.index = index;
        if (changed) { render(data); rendered(path, arrived); }
        await sleep(150);  // at most a few renders a second while time runs fast
      } catch (e) {
        if (w.stopped) return;
        if (e.name !== "AbortError") { if (!failed(e)) toast(e.message, true); await sleep(1000); }
      }
    }
  };
  w.refresh = () => { if (app.readOnly) once(); else { w.index = 0; w.ctl?.abort(); } };
  watchers.add(w);
  if (app.readOnly) once(); else loop();
  return { stop: () => { w.stopped = true; w.ctl?.abort(); watchers.delete(w); }, refresh: w.refresh };
}

export function refreshAll() { for (const w of watchers) w.refresh(); }

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function toast(message, error = false) {
  const box = document.getElementById("toast");
  const div = document.createElement("div");
  div.textContent = message;
  if (error) div.className = "error";
  box.append(div);
  setTimeout(() => div.remove(), error ? 8000 : 4000);
}
