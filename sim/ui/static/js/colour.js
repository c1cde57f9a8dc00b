// Colour scales that colour-blind readers can tell apart: viridis for load, Okabe-Ito for lines.

const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
export const LUT = Array.from({ length: 101 }, (_, k) => {
  const x = (k / 100) * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]);
  return `rgb(${a.map((v, j) => Math.round(v + (b[j] - v) * f)).join(",")})`;
});
export const viridis = (fraction) => LUT[Math.max(0, Math.min(100, Math.round((fraction || 0) * 100)))];
export const LINES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"];
export const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
