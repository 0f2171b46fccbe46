// Axis arithmetic for the charts: "nice" value ticks (1, 2, 5 times a power of ten) and time
// ticks on round local times.

/** Ticks covering [min, max] in about `count` steps of 1, 2 or 5 times a power of ten; returns the widened domain too. */
export function niceTicks(min, max, count = 4) {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const ticks = [];
  // Rounded to the step's precision, so 0.1 + 0.2 prints as 0.3.
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let v = low; v <= high + step / 2; v += step) ticks.push(Number(v.toFixed(digits)));
  return { min: low, max: high, ticks };
}

const SECOND = 1e3;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const INTERVALS = [10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR];

/** Round local times between from and to, at most `maxTicks` of them; `seconds` says whether labels need seconds. */
export function timeTicks(from, to, maxTicks) {
  const span = to - from;
  const interval = INTERVALS.find((i) => span / i <= maxTicks) ?? INTERVALS[INTERVALS.length - 1];
  // Align to the viewer's clock, not UTC's, so ticks fall on 09:00 rather than 09:30 in India.
  const offset = -new Date(from).getTimezoneOffset() * MINUTE;
  const ticks = [];
  for (let t = Math.ceil((from + offset) / interval) * interval - offset; t <= to; t += interval) ticks.push(t);
  return { ticks, seconds: interval < MINUTE };
}
