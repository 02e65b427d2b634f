// The one door to the HTTP API: JSON in, JSON out, errors as ApiError with the API's detail.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached).
   * @param {{error?: string, detail?: string, field?: string|null}} body The API's error body.
   */
  constructor(status, body) {
    const detail = body && body.detail ? String(body.detail) : `request failed (HTTP ${status})`;
    super(detail);
    this.status = status;
    this.code = (body && body.error) || "http_error";
    this.detail = detail;
    this.field = (body && body.field) || null;
  }
}

/**
 * Call the API.
 * @param {string} path Path under the same origin, e.g. "/v1/stats".
 * @param {{method?: string, params?: Record<string, any>, body?: any}} [options]
 */
export async function api(path, { method = "GET", params = {}, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, { error: "unreachable", detail: `The lmrec server cannot be reached (${err.message}).` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const enc = encodeURIComponent;
