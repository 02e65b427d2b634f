// Result lists (search and recommendations): rows with feedback buttons and rank movement.

import { explain } from "./explain.js";

/** Build an element with attributes and children (strings become text nodes, never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") el.setAttribute(key, value);
    else el[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Compare a new ranking with the previous one.
 * @param {string[]} before Ids of the previous list (empty: nothing to compare with).
 * @param {string[]} after Ids of the new list.
 * @returns {{moves: Map<string, number|"new">, dropped: string[]}} Rank gained (positive is up).
 */
export function diffRanks(before, after) {
  const moves = new Map();
  if (!before.length) return { moves, dropped: [] };
  const was = new Map(before.map((id, i) => [id, i]));
  after.forEach((id, i) => moves.set(id, was.has(id) ? was.get(id) - i : "new"));
  const kept = new Set(after);
  return { moves, dropped: before.filter((id) => !kept.has(id)) };
}

function moveBadge(move) {
  if (move === undefined) return null;
  if (move === "new") return h("span", { class: "move move-new", text: "new", title: "new in this list" });
  if (move > 0) return h("span", { class: "move move-up", "aria-label": `up ${move}`, text: `▲${move}` });
  if (move < 0) return h("span", { class: "move move-down", "aria-label": `down ${-move}`, text: `▼${-move}` });
  return h("span", { class: "move move-same", "aria-label": "unchanged", text: "=" });
}

let rateCounter = 0;

/**
 * Render rows into a list element.
 * @param {HTMLOListElement} list
 * @param {Array<{id: string, title: string, score: number, source: string, explanation?: string}>} items
 * @param {{moves?: Map<string, number|"new">, onFeedback: (item: object, kind: string, value?: number) => void}} options
 */
export function renderResults(list, items, { moves = new Map(), onFeedback }) {
  list.replaceChildren();
  items.forEach((item, i) => {
    const why = explain(item);
    const move = moves.get(item.id);
    const title = item.title || item.id;
    const rateId = `rate-${++rateCounter}`;
    const button = (kind, label, cls) =>
      h("button", {
        type: "button",
        class: `btn btn-small ${cls}`,
        "data-kind": kind,
        "aria-label": `${label} ${title}`,
        text: label,
        onclick: () => onFeedback(item, kind),
      });
    const select = h(
      "select",
      { id: rateId, class: "rate-select", "aria-label": `Rating for ${title}` },
      [5, 4, 3, 2, 1].map((n) => h("option", { value: String(n), text: `${n} ★` })),
    );
    const row = h(
      "li",
      {
        class: `result${move === "new" ? " is-new" : ""}${typeof move === "number" && move !== 0 ? " is-moved" : ""}`,
        "data-id": item.id,
      },
      h("div", { class: "rank" }, h("span", { class: "rank-n", text: String(i + 1) }), moveBadge(move)),
      h(
        "div",
        { class: "result-body" },
        h("div", { class: "result-title" }, h("span", { class: "title-text", text: title }), h("span", { class: "item-id", text: `#${item.id}` })),
        why.text ? h("div", { class: `why${why.fromApi ? " why-api" : ""}`, "data-from": why.fromApi ? "api" : "source", text: why.text }) : null,
      ),
      h("div", { class: "score", title: "score", text: Number(item.score).toFixed(3) }),
      h(
        "div",
        { class: "actions", role: "group", "aria-label": `Feedback on ${title}` },
        button("click", "Click", "btn-neutral"),
        button("like", "Like", "btn-like"),
        button("dislike", "Dislike", "btn-dislike"),
        h("span", { class: "rate" }, select, h("button", {
          type: "button",
          class: "btn btn-small btn-neutral",
          "data-kind": "rate",
          "aria-label": `Rate ${title}`,
          text: "Rate",
          onclick: () => onFeedback(item, "rate", Number(select.value)),
        })),
      ),
    );
    list.append(row);
  });
}
