// Fetching from the silo's HTTP API, with its {"error": "..."} answers turned into ApiError.

export class ApiError extends Error {
  /** status 0 means the silo could not be reached at all. */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJson(url, { signal } = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, `Cannot reach the silo at ${location.host}.`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, body?.error ?? `The silo answered HTTP ${response.status}.`);
  }
  return body;
}

/** Percent-encodes one path segment or query value: source ids may hold '/', '#', spaces and any Unicode. */
export const enc = encodeURIComponent;

/** A page of the dashboard: the main page with {metric, window, by}, or a source's page with {source, window}. */
export function pageHref(params) {
  const query = Object.entries(params).filter(([, v]) => v).map(([k, v]) => `${k}=${enc(v)}`).join('&');
  return query ? `/?${query}` : '/';
}

export const sourceHref = (source, window) => pageHref({ source, window });

export const metricHref = (metric, window) => pageHref({ metric, window });

/** "5m" -> 300000; the dashboard only offers s, m, h and d. */
export function durationMs(text) {
  const match = /^(\d+)(s|m|h|d)$/.exec(text ?? '');
  if (!match) return null;
  return Number(match[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[match[2]];
}
