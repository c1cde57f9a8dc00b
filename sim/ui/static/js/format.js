// Formatting and small DOM helpers.

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds * 1000) / 1000;
  if (s < 60) return `${+s.toFixed(3)}s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m${String(r).padStart(2, "0")}s` : `${m}m${String(r).padStart(2, "0")}s`;
}

// "90", "90s", "5m", "1h30m" -> seconds (NaN when not a duration)
export function parseDuration(text) {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(h|m|s)/g;
  let total = 0, used = 0, m;
  while ((m = re.exec(t))) { total += Number(m[1]) * { h: 3600, m: 60, s: 1 }[m[2]]; used += m[0].length; }
  return used === t.length && used ? total : NaN;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const short = (id) => (id && id.length > 8 ? id.slice(0, 8) : id || "");
