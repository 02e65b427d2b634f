// The item map: PCA coordinates from /v1/map drawn on a canvas, coloured by category.

import { h } from "./results.js";

// Colours with at least 3:1 contrast on white (WCAG non-text contrast); grey is "Other".
const PALETTE = ["#1f77b4", "#c2410c", "#15803d", "#7c3aed", "#8c564b", "#be185d", "#0e7490", "#a16207", "#4d7c0f", "#b91c1c"];
const OTHER_COLOUR = "#6b7280";

export function colourFor(categories) {
  const map = new Map();
  categories.forEach((c, i) => map.set(c, c === "Other" || i >= PALETTE.length ? OTHER_COLOUR : PALETTE[i]));
  return map;
}

/**
 * Draw the map.
 * @param {HTMLCanvasElement} canvas
 * @param {{items: any[], categories: string[], user: any, history: any[]}} data
 * @returns {(x: number, y: number) => any} Finds the nearest drawn point to a CSS pixel position.
 */
export function drawMap(canvas, data) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800;
  const height = canvas.clientHeight || 560;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);

  const all = [...data.items, ...data.history, ...(data.user ? [data.user] : [])];
  if (!all.length) {
    ctx.fillStyle = "#374151";
    ctx.font = "15px system-ui, sans-serif";
    ctx.fillText("No items in the catalog yet.", 24, 40);
    return () => null;
  }
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 28;
  const spanX = maxX - minX || 1;
  const spanY = maxY - minY || 1;
  const sx = (x) => pad + ((x - minX) / spanX) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - minY) / spanY) * (height - 2 * pad);

  // Axes.
  ctx.strokeStyle = "#d1d5db";
  ctx.lineWidth = 1;
  ctx.strokeRect(pad / 2, pad / 2, width - pad, height - pad);
  ctx.fillStyle = "#4b5563";
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillText("PC1 →", width - pad - 40, height - 6);
  ctx.save();
  ctx.translate(10, pad + 40);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("PC2 →", 0, 0);
  ctx.restore();

  const colours = colourFor(data.categories);
  const drawn = [];
  const n = data.items.length;
  const radius = n > 1500 ? 2 : n > 200 ? 3.5 : 5;
  for (const p of data.items) {
    ctx.beginPath();
    ctx.fillStyle = colours.get(p.category) || OTHER_COLOUR;
    ctx.globalAlpha = 0.8;
    ctx.arc(sx(p.x), sy(p.y), radius, 0, 2 * Math.PI);
    ctx.fill();
    drawn.push({ ...p, px: sx(p.x), py: sy(p.y) });
  }
  ctx.globalAlpha = 1;
  for (const p of data.history) {
    ctx.beginPath();
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 2;
    ctx.arc(sx(p.x), sy(p.y), radius + 5, 0, 2 * Math.PI);
    ctx.stroke();
    drawn.push({ ...p, px: sx(p.x), py: sy(p.y), note: `history (${p.kind})` });
  }
  // Name the points when there are few enough to read: all items, else the history only.
  ctx.fillStyle = "#1f2937";
  ctx.font = "12px system-ui, sans-serif";
  const named = n <= 40 ? data.items : data.history.slice(0, 25);
  for (const p of named) {
    const w = ctx.measureText(p.title).width;
    const right = sx(p.x) + radius + 6;
    ctx.fillText(p.title, right + w > width - 6 ? sx(p.x) - radius - 6 - w : right, sy(p.y) + 4);
  }
  if (data.user) {
    const [ux, uy] = [sx(data.user.x), sy(data.user.y)];
    ctx.beginPath();
    ctx.fillStyle = "#facc15";
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 2;
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 5 : 12;
      const a = (Math.PI / 5) * k - Math.PI / 2;
      ctx[k ? "lineTo" : "moveTo"](ux + r * Math.cos(a), uy + r * Math.sin(a));
    }
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "#111827";
    ctx.font = "bold 13px system-ui, sans-serif";
    ctx.fillText(`user ${data.user.id}`, ux + 14, uy + 4);
    drawn.push({ id: "", title: `profile of user ${data.user.id}`, px: ux, py: uy, note: "user" });
  }
  return (x, y) => {
    let best = null;
    let bestD = 12 * 12;
    for (const p of drawn) {
      const d = (p.px - x) ** 2 + (p.py - y) ** 2;
      if (d <= bestD) {
        best = p;
        bestD = d;
      }
    }
    return best;
  };
}

export function renderLegend(list, categories) {
  const colours = colourFor(categories);
  list.replaceChildren(
    ...categories.map((c) => {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.backgroundColor = colours.get(c); // CSSOM, allowed by the page's CSP
      return h("li", {}, swatch, c);
    }),
  );
}
