// The console's wiring: state, API calls and what each control does.

import { api, ApiError, enc } from "./api.js";
import { diffRanks, h, renderResults } from "./results.js";
import { drawMap, renderLegend } from "./map.js";
import { renderReport } from "./report.js";

const K = 10;
const $ = (id) => document.getElementById(id);

const state = {
  user: null,
  recIds: [], // the previous recommendation list, to show what moved
  query: "",
  view: "console",
  findPoint: () => null,
};

// -- alerts ---------------------------------------------------------------------------------
function showAlert(message) {
  $("alert-text").textContent = message;
  $("alert").dataset.empty = "false";
}

function clearAlert() {
  $("alert-text").textContent = "";
  $("alert").dataset.empty = "true";
}

/** Run an async action; API failures become the alert message (the API's `detail`). */
async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    if (err instanceof ApiError) {
      const where = err.field ? ` (field: ${err.field})` : "";
      showAlert(`${err.detail}${where}`);
    } else {
      showAlert(`Something went wrong in the console: ${err && err.message ? err.message : err}`);
    }
    return undefined;
  }
}

// -- status bar -----------------------------------------------------------------------------
const KNOWN_STATUS = new Set(["items", "active_items", "users", "events", "last_seq", "encoder", "dim", "index", "model", "categories"]);
const num = (v) => (typeof v === "number" ? v.toLocaleString("en-US") : String(v ?? "–"));
const humanize = (key) => key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? num(value) : value.toFixed(4);
  if (typeof value === "object") {
    const parts = Object.entries(value)
      .filter(([, v]) => v === null || typeof v !== "object")
      .slice(0, 6)
      .map(([k, v]) => `${k} ${formatValue(v)}`);
    return parts.join(" · ") || "–";
  }
  return String(value);
}

function renderStatus(stats) {
  const entries = [
    ["Catalog", `${num(stats.active_items)} active / ${num(stats.items)} items`],
    ["Users", num(stats.users)],
    ["Events", num(stats.events)],
    ["Model", stats.model || "content (untrained)"],
    ["Encoder", stats.dim ? `${stats.encoder} (${stats.dim}-d)` : stats.encoder],
    ["Index", stats.index],
    ["Categories", num(Object.keys(stats.categories || {}).length)],
  ];
  for (const [key, value] of Object.entries(stats)) {
    if (!KNOWN_STATUS.has(key)) entries.push([humanize(key), formatValue(value)]);
  }
  $("status").replaceChildren(
    ...entries.map(([k, v]) => h("div", { class: "status-item" }, h("dt", { text: k }), h("dd", { text: String(v ?? "–") }))),
  );
  $("recs-model").textContent = stats.model ? `model ${stats.model}` : "content model";
}

async function loadStatus() {
  const stats = await api("/v1/stats");
  renderStatus(stats);
}

// -- users and history ---------------------------------------------------------------------
async function loadUsers() {
  const body = await api("/v1/users", { params: { limit: 30 } });
  $("user-list").replaceChildren(...body.users.map((u) => h("option", { value: u })));
}

const PAST = { view: "viewed", click: "clicked", cart: "added to cart", purchase: "bought", like: "liked", dislike: "disliked", skip: "skipped" };

/** A history row as [verb, item title]. */
function describeEvent(e) {
  if (e.kind === "search") return [`searched “${e.query ?? ""}”`, ""];
  const what = e.title || (e.item ? `#${e.item}` : "");
  if (e.kind === "rate") return [`rated ${e.value ?? "?"}★`, what];
  return [PAST[e.kind] || e.kind, what];
}

async function loadHistory() {
  const list = $("history");
  if (!state.user) {
    list.replaceChildren(h("li", { class: "empty", text: "Choose a user to see what they did." }));
    return;
  }
  const body = await api(`/v1/users/${enc(state.user)}/history`, { params: { limit: 15 } });
  const events = [...body.events].reverse(); // newest first
  if (!events.length) {
    list.replaceChildren(h("li", { class: "empty", text: "No events yet: like or rate something." }));
    return;
  }
  list.replaceChildren(
    ...events.map((e) => {
      const [verb, what] = describeEvent(e);
      return h(
        "li",
        { class: `history-item kind-${e.kind}` },
        h("span", { class: "kind", text: verb }),
        what ? h("span", { class: "history-title", text: what }) : null,
      );
    }),
  );
}

async function selectUser(user) {
  const id = user.trim();
  if (!id) return;
  state.user = id;
  state.recIds = [];
  $("user-input").value = id;
  $("user-hint").textContent = `Showing user ${id}.`;
  try {
    localStorage.setItem("lmrec.user", id);
  } catch {
    /* storage may be disabled; the console works without it */
  }
  clearAlert();
  await Promise.all([loadHistory(), loadRecs(null), state.query ? runSearch(state.query) : null]);
  if (state.view === "map") await loadMap();
}

// -- recommendations and search ---------------------------------------------------------------
async function loadRecs(reason) {
  if (!state.user) return;
  const body = await api(`/v1/users/${enc(state.user)}/recommendations`, { params: { k: K, explain: true } });
  const ids = body.items.map((i) => i.id);
  const { moves, dropped } = reason ? diffRanks(state.recIds, ids) : { moves: new Map(), dropped: [] };
  state.recIds = ids;
  renderResults($("recs"), body.items, { moves, onFeedback });
  const meta = $("recs-meta");
  if (!body.items.length) {
    meta.textContent = "Nothing to recommend yet: the catalog is empty.";
  } else if (reason) {
    const fresh = [...moves.values()].filter((m) => m === "new").length;
    const up = [...moves.values()].filter((m) => typeof m === "number" && m > 0).length;
    const down = [...moves.values()].filter((m) => typeof m === "number" && m < 0).length;
    const changed = fresh || up || down;
    meta.textContent = changed
      ? `Updated after ${reason}: ${fresh} new, ${up} moved up, ${down} moved down${dropped.length ? `, ${dropped.length} dropped out` : ""}.`
      : `Updated after ${reason}: no change.`;
  } else {
    meta.textContent = `Top ${body.items.length} for user ${state.user}.`;
  }
}

async function runSearch(query) {
  state.query = query;
  if (!query) {
    $("search-results").replaceChildren();
    $("search-meta").textContent = "";
    return;
  }
  const body = await api("/v1/search", { params: { q: query, user: state.user, k: K, explain: true } });
  renderResults($("search-results"), body.items, { onFeedback });
  $("search-meta").textContent = body.items.length
    ? `${body.items.length} results for “${query}”${state.user ? `, personalized for user ${state.user}` : ""}.`
    : `No results for “${query}”.`;
}

/** Record feedback, then refresh everything it can change; keeps keyboard focus in place. */
async function onFeedback(item, kind, value) {
  if (!state.user) {
    showAlert("Choose a user first: type a user id and press Load.");
    $("user-input").focus();
    return;
  }
  const active = document.activeElement;
  const list = active && active.closest ? active.closest("ol.results") : null;
  await guarded(async () => {
    const event = { user: state.user, item: item.id, kind };
    if (kind === "rate") event.value = value;
    await api("/v1/events", { method: "POST", body: { events: [event] } });
    clearAlert();
    const reason = kind === "rate" ? `you rated “${item.title}” ${value}★` : `you ${PAST[kind] || kind} “${item.title}”`;
    await Promise.all([loadRecs(reason), loadHistory(), state.query ? runSearch(state.query) : null]);
    await loadStatus();
  });
  if (list) {
    const again = list.querySelector(`li[data-id="${CSS.escape(item.id)}"] button[data-kind="${kind}"]`);
    (again || list.querySelector("button") || $("recs-heading")).focus();
  }
}

// -- items ------------------------------------------------------------------------------------
async function addItem(form) {
  const data = new FormData(form);
  const item = {
    id: String(data.get("id") || "").trim(),
    title: String(data.get("title") || ""),
    text: String(data.get("text") || ""),
    categories: String(data.get("categories") || "")
      .split(",")
      .map((c) => c.trim())
      .filter(Boolean),
  };
  await guarded(async () => {
    await api("/v1/items", { method: "POST", body: { items: [item] } });
    clearAlert();
    $("item-result").textContent = `Added “${item.title}” (#${item.id}); searching for it.`;
    form.reset();
    $("search-input").value = item.title;
    await runSearch(item.title);
    await loadStatus();
  });
}

// -- map and evaluation views -----------------------------------------------------------------
async function loadMap() {
  const data = await api("/v1/map", { params: { user: state.user } });
  renderLegend($("map-legend"), data.categories);
  const [a, b] = data.explained_variance || [0, 0];
  $("map-meta").textContent =
    `${data.items.length.toLocaleString("en-US")} of ${data.total.toLocaleString("en-US")} items, ` +
    `PCA of the item vectors (PC1 ${(a * 100).toFixed(1)}%, PC2 ${(b * 100).toFixed(1)}% of variance)` +
    (state.user ? `; user ${state.user}: ${data.history.length} history items${data.user ? ", profile marked ★" : ", no profile yet"}.` : "; choose a user to mark their history.");
  $("map-canvas").setAttribute("aria-label", `Map of ${data.items.length} items coloured by category`);
  state.mapData = data;
  state.findPoint = drawMap($("map-canvas"), data);
}

async function loadReport() {
  // Listing first: "no report yet" is a normal state, not a failed request.
  const listing = await api("/v1/reports");
  renderReport($("report"), listing.reports.length ? await api("/v1/reports/latest") : null);
}

const VIEWS = ["console", "map", "evaluation"];

async function showView() {
  const name = (window.location.hash.match(/^#\/(\w+)/) || [])[1];
  state.view = VIEWS.includes(name) ? name : "console";
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== state.view;
  for (const link of document.querySelectorAll(".views-nav a[data-view]")) {
    if (link.dataset.view === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (state.view === "map") await guarded(loadMap);
  if (state.view === "evaluation") await guarded(loadReport);
}

// -- start --------------------------------------------------------------------------------------
function wire() {
  $("alert-dismiss").addEventListener("click", clearAlert);
  $("user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => selectUser($("user-input").value));
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => runSearch($("search-input").value.trim()));
  });
  $("item-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addItem(e.currentTarget);
  });
  $("map-refresh").addEventListener("click", () => guarded(loadMap));
  $("eval-refresh").addEventListener("click", () => guarded(loadReport));
  $("map-canvas").addEventListener("mousemove", (e) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const p = state.findPoint(e.clientX - rect.left, e.clientY - rect.top);
    $("map-hover").textContent = p ? `${p.title}${p.category ? ` · ${p.category}` : ""}${p.note ? ` · ${p.note}` : ""}` : "";
  });
  window.addEventListener("resize", () => {
    if (state.view === "map" && state.mapData) state.findPoint = drawMap($("map-canvas"), state.mapData);
  });
  window.addEventListener("hashchange", showView);
  setInterval(() => {
    if (document.visibilityState === "visible") loadStatus().catch(() => {});
  }, 15000);
}

async function start() {
  wire();
  loadHistory();
  await guarded(() => Promise.all([loadStatus(), loadUsers()]));
  let saved = null;
  try {
    saved = localStorage.getItem("lmrec.user");
  } catch {
    saved = null;
  }
  const fromUrl = new URLSearchParams(window.location.search).get("user");
  if (fromUrl || saved) await guarded(() => selectUser(fromUrl || saved));
  await showView();
  document.body.dataset.ready = "true";
}

start();
