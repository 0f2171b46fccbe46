// Numbers and times as a person reads them. One fixed locale, so the page reads the same
// everywhere and the browser tests can compare text.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumSignificantDigits: 3 });
const decimals = [0, 1, 2, 3].map((d) => new Intl.NumberFormat('en-US', { maximumFractionDigits: d }));

/** A count: exact, with thousands separators. */
export function formatCount(value) {
  return value === null || value === undefined ? '—' : integer.format(value);
}

/** A measured value: enough digits to tell values apart, not more. */
export function formatValue(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e9 || magnitude < 1e-3)) return value.toExponential(2);
  if (magnitude >= 1000) return decimals[1].format(value);
  if (magnitude >= 1) return decimals[2].format(value);
  return decimals[3].format(value);
}

/** Axis labels: short (1.2K, 3M). */
export function formatTick(value) {
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e15 || magnitude < 1e-3)) return value.toExponential(1);
  return magnitude >= 10000 ? compact.format(value) : formatValue(value);
}

const pad = (n) => String(n).padStart(2, '0');

/** A time of day in the viewer's zone; with seconds when the step is under a minute. */
export function formatClock(ms, withSeconds = false) {
  const d = new Date(ms);
  return withSeconds ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A date and time, for tooltips and first/last seen. */
export function formatDateTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(ms, true)}`;
}

/** A span of time: 250 ms, 3.4 s, 2 min, 5 h. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60e3) return `${decimals[1].format(ms / 1e3)} s`;
  if (ms < 3600e3) return `${Math.round(ms / 60e3)} min`;
  if (ms < 86400e3) return `${decimals[1].format(ms / 3600e3)} h`;
  return `${decimals[1].format(ms / 86400e3)} d`;
}

/** "12 s ago", from an ISO timestamp. */
export function formatAgo(iso, nowMs = Date.now()) {
  const ms = Math.max(0, nowMs - Date.parse(iso));
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** A step as words: "10 s", "minute", "15 min", "hour". */
export function stepLabel(step) {
  const match = /^(\d+)(s|m|h|d)$/.exec(step ?? '');
  if (!match) return step ?? '';
  const [, count, unit] = match;
  const [one, short] = { s: ['second', 's'], m: ['minute', 'min'], h: ['hour', 'h'], d: ['day', 'd'] }[unit];
  return count === '1' ? one : `${count} ${short}`;
}
