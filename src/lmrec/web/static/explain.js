// Why an item is shown: the API's own explanation when it sends one, else a phrase per source.
// This is the one place that maps result sources to words.

const SOURCE_PHRASES = {
  content: "from your history (content)",
  model: "recommended by the trained model",
  popular: "popular right now",
  search: "matches your search",
  similar: "similar to this item",
};

/**
 * @param {{source?: string, explanation?: string|null}} item A result row from the API.
 * @returns {{text: string, fromApi: boolean}}
 */
export function explain(item) {
  if (typeof item.explanation === "string" && item.explanation.trim()) {
    return { text: item.explanation, fromApi: true };
  }
  const source = item.source || "";
  return { text: SOURCE_PHRASES[source] || source || "", fromApi: false };
}
