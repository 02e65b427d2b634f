// The evaluation page: the latest `lmrec evaluate` report as tables and charts.

import { h } from "./results.js";

const count = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : v ?? "?");
const fmt = (v, digits = 4) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–");

function best(protocol, metric) {
  const lower = (protocol.lower_is_better || []).includes(metric);
  const values = (protocol.models || [])
    .map((m) => (m.metrics || {})[metric])
    .filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!values.length) return null;
  return lower ? Math.min(...values) : Math.max(...values);
}

function protocolTable(p) {
  const metrics = p.metrics || [];
  const lower = new Set(p.lower_is_better || []);
  const multi = (p.n_folds || 1) > 1;
  const bests = new Map(metrics.map((m) => [m, best(p, m)]));
  const head = h(
    "tr",
    {},
    h("th", { scope: "col", text: "Model" }),
    metrics.map((m) => h("th", { scope: "col", class: "num", text: `${m} ${lower.has(m) ? "↓" : "↑"}` })),
    h("th", { scope: "col", class: "num", text: "Fit s" }),
    h("th", { scope: "col", class: "num", text: "Score s" }),
    h("th", { scope: "col", text: "Notes" }),
  );
  const rows = (p.models || []).map((m) => {
    const cells = metrics.map((metric) => {
      const v = (m.metrics || {})[metric];
      if (m.error || typeof v !== "number") return h("td", { class: "num", text: "–" });
      let text = fmt(v);
      if (multi && m.std && typeof m.std[metric] === "number") text += ` ± ${fmt(m.std[metric])}`;
      const isBest = bests.get(metric) !== null && v === bests.get(metric);
      return h("td", { class: `num${isBest ? " best" : ""}` }, isBest ? h("strong", { text }) : text);
    });
    return h(
      "tr",
      { class: m.model === "lmrec" ? "ours" : "" },
      h("th", { scope: "row", text: m.model }),
      cells,
      h("td", { class: "num", text: fmt(m.fit_seconds, 1) }),
      h("td", { class: "num", text: fmt(m.score_seconds, 1) }),
      h("td", { class: m.error ? "error-cell" : "", text: m.error ? `failed: ${m.error}` : "" }),
    );
  });
  const caption = `${count(p.n_test_cases)} test cases over ${p.n_folds ?? "?"} fold(s)${multi ? ", mean ± std" : ""}; best in bold.`;
  return h(
    "section",
    { class: "protocol" },
    h("h3", { text: `${p.name || "?"}: ${p.title || ""}` }),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", { text: caption }), h("thead", {}, head), h("tbody", {}, rows))),
  );
}

/**
 * Render the report (or the "no report yet" message when `data` is null).
 * @param {HTMLElement} root
 * @param {any|null} data The body of GET /v1/reports/latest.
 */
export function renderReport(root, data) {
  if (!data) {
    root.replaceChildren(
      h(
        "div",
        { class: "empty-state", id: "no-report" },
        h("p", { class: "empty-title", text: "No evaluation report yet." }),
        h("p", {}, "Run ", h("code", { text: "lmrec evaluate" }), " to compare lmrec with the built-in baselines; the newest report appears here."),
      ),
    );
    return;
  }
  const r = data.report || {};
  const ds = r.dataset || {};
  const when = data.modified ? new Date(data.modified * 1000).toLocaleString() : "";
  const facts = [
    ["Dataset", `${ds.name ?? "?"} (${count(ds.n_users)} users, ${count(ds.n_items)} items, ${count(ds.n_events)} events)`],
    ["Encoder", r.encoder ?? "?"],
    ["Seed", r.seed ?? "?"],
    ["Mode", r.quick ? "quick (not comparable)" : "full"],
    ["Total time", typeof r.total_seconds === "number" ? `${r.total_seconds.toFixed(1)} s` : "?"],
    ["Written", when],
  ];
  const charts = (data.charts || []).map((c) =>
    h("figure", { class: "chart" }, h("img", { src: c.url, alt: `Chart: ${c.name}`, loading: "lazy" }), h("figcaption", { text: c.name })),
  );
  root.replaceChildren(
    h("p", { class: "meta" }, "Report ", h("strong", { text: data.name }), data.markdown ? " · " : "", data.markdown ? h("a", { href: "/v1/reports/latest/files/report.md", text: "report.md" }) : null, " · ", h("a", { href: "/v1/reports/latest/files/report.json", text: "report.json" })),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })])),
    ...(r.protocols || []).map(protocolTable),
    charts.length ? h("section", {}, h("h3", { text: "Charts" }), h("div", { class: "charts" }, charts)) : null,
  );
}
