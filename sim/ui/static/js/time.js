// The time controls. Live with the manual clock, play advances simulated time through
// POST /v1/sim/advance at the chosen speed; with the realtime clock the server moves time itself
// and step / advance-by add to it. Recorded (read-only), they move the instant the page shows.

import { app, get, refreshAll, send, sleep, toast } from "./api.js";
import { duration, parseDuration } from "./format.js";

const TICK = 0.25;  // wall seconds between play steps

export function timeControls(charts) {
  const $ = (id) => document.getElementById(id);
  const clock = $("clock"), play = $("play"), speed = $("speed"), scrub = $("scrub");
  let playing = false, now = 0;

  const show = (t) => {
    const moved = t !== now;
    now = t;
    clock.textContent = duration(t);
    clock.dataset.seconds = t;
    if (app.readOnly) scrub.value = t;
    return moved;
  };

  async function moveBy(seconds) {
    if (app.readOnly) return seek(Math.min(app.end, now + seconds));
    try {
      const res = await send("POST", "/v1/sim/advance", { Seconds: seconds });
      show(res.Time);
      await charts.update();
    } catch (e) { toast(e.message, true); setPlaying(false); }
  }

  async function seek(t) {
    app.at = t;
    show(t);
    refreshAll();
    await charts.update(t);
    if (t >= app.end) setPlaying(false);
  }

  function setPlaying(on) {
    playing = on;
    play.textContent = on ? "Pause" : "Play";
    play.setAttribute("aria-pressed", String(on));
    if (on) loop();
  }

  async function loop() {
    while (playing) {
      const started = performance.now();
      await moveBy(Number(speed.value) * TICK);
      await sleep(Math.max(0, TICK * 1000 - (performance.now() - started)));
    }
  }

  play.addEventListener("click", () => setPlaying(!playing));
  $("step").addEventListener("click", () => moveBy(10));
  $("advance").addEventListener("click", () => {
    const s = parseDuration($("advance-by").value);
    if (!(s > 0)) { toast(`Advance by: "${$("advance-by").value}" is not a duration (e.g. 90s, 5m, 1h)`, true); return; }
    moveBy(s);
  });

  if (app.readOnly) {
    scrub.hidden = false;
    scrub.max = app.end;
    scrub.addEventListener("input", () => seek(Number(scrub.value)));
    show(app.at);
  } else if (app.clock === "realtime") {
    play.disabled = true;
    play.title = `The server's clock runs in real time at ${app.speed}×`;
    speed.replaceChildren(new Option(`${app.speed}× (server)`, app.speed));
    speed.disabled = true;
  }

  // Live: the clock itself is not a table, so the header reads /ui/api/status once a second
  // (a few bytes); the tables follow through their blocking queries.
  (async () => {
    while (!app.readOnly) {
      try {
        const { data } = await get("/ui/api/status");
        if (show(data.Time)) await charts.update();
      } catch (e) { /* the server may be restarting */ }
      await sleep(1000);
    }
  })();
  charts.update(app.readOnly ? app.at : null);
}
