// Time-series charts drawn as SVG by our own code: bars for counts, lines (with an optional
// band, p50..p99) for values. Our own code rather than a library: the page needs two chart
// shapes and a tooltip, which is less code than a library's configuration, has no licence to
// track, and draws crisp at any width. Re-rendered on every snapshot and on resize.

import { s, h } from './dom.js';
import { niceTicks, timeTicks } from './scales.js';
import { formatClock } from './format.js';

const MARGIN = { top: 10, right: 12, bottom: 24, left: 52 };
const state = new WeakMap();

/**
 * Draws `spec` into `container`:
 * { points: [{t: ms, ...}], stepMs, kind: 'bars'|'lines', series: [{key, label, cls}],
 *   band: {low, high, label, cls}?, format, height, empty, label }
 */
export function renderChart(container, spec) {
  let entry = state.get(container);
  if (!entry) {
    entry = { spec, hoverT: null, tooltip: h('div', { class: 'tooltip', hidden: true }) };
    state.set(container, entry);
    container.classList.add('chart');
    new ResizeObserver(() => draw(container, entry)).observe(container);
  }
  entry.spec = spec;
  draw(container, entry);
}

function draw(container, entry) {
  const { spec } = entry;
  const width = Math.max(240, container.clientWidth || 600);
  const height = spec.height ?? 220;
  const plot = { x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
  const points = spec.points ?? [];
  const keys = [...spec.series.map((x) => x.key), ...(spec.band ? [spec.band.low, spec.band.high] : [])];
  const values = points.flatMap((p) => keys.map((k) => p[k])).filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  const total = spec.kind === 'bars' ? points.reduce((sum, p) => sum + (p[spec.series[0].key] ?? 0), 0) : values.length;

  const svg = s('svg', {
    width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': spec.label ?? 'chart', 'data-points': points.length, 'data-total': total,
  });
  if (points.length === 0 || (spec.kind === 'bars' ? total === 0 : values.length === 0)) {
    svg.append(s('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle', text: spec.empty ?? 'No data in this window.' }));
    container.replaceChildren(svg);
    return;
  }

  const from = points[0].t;
  const to = points[points.length - 1].t + spec.stepMs;
  const x = (t) => plot.x + ((t - from) / (to - from)) * plot.w;
  const y0 = spec.kind === 'bars' ? { min: 0, max: Math.max(...values, 1) } : { min: Math.min(...values), max: Math.max(...values) };
  const yScale = niceTicks(y0.min, y0.max, Math.max(2, Math.round(plot.h / 50)));
  const y = (v) => plot.y + plot.h - ((v - yScale.min) / (yScale.max - yScale.min)) * plot.h;

  svg.append(axes(plot, x, y, yScale, from, to, spec.format));
  if (spec.kind === 'bars') {
    svg.append(bars(points, spec, x, y, yScale));
  } else {
    if (spec.band) svg.append(band(points, spec, x, y));
    for (const series of spec.series) svg.append(line(points, series, spec.stepMs, x, y));
  }

  const hover = s('g', { class: 'hover' });
  const overlay = s('rect', { x: plot.x, y: plot.y, width: plot.w, height: plot.h, class: 'overlay' });
  const pick = (event) => {
    const box = svg.getBoundingClientRect();
    const index = Math.min(points.length - 1, Math.max(0, Math.floor(((event.clientX - box.left - plot.x) / plot.w) * points.length)));
    entry.hoverT = points[index].t;
    showHover(container, entry, hover, { points, plot, x, y, width });
  };
  overlay.addEventListener('pointermove', pick);
  overlay.addEventListener('pointerdown', pick);
  overlay.addEventListener('pointerleave', () => {
    entry.hoverT = null;
    showHover(container, entry, hover, { points, plot, x, y, width });
  });
  svg.append(hover, overlay);
  container.replaceChildren(svg, entry.tooltip);
  showHover(container, entry, hover, { points, plot, x, y, width });
}

function axes(plot, x, y, yScale, from, to, format) {
  const group = s('g', { class: 'axes' });
  for (const tick of yScale.ticks) {
    const ty = y(tick);
    group.append(
      s('line', { x1: plot.x, x2: plot.x + plot.w, y1: ty, y2: ty, class: tick === 0 ? 'grid zero' : 'grid' }),
      s('text', { x: plot.x - 8, y: ty, dy: '0.32em', 'text-anchor': 'end', class: 'tick', text: format.tick(tick) }),
    );
  }
  const time = timeTicks(from, to, Math.max(2, Math.floor(plot.w / 70)));
  for (const tick of time.ticks) {
    // A label centred on a tick near the right edge would be cut off; leave it out.
    if (x(tick) + (time.seconds ? 26 : 16) > plot.x + plot.w + MARGIN.right) continue;
    group.append(s('text', { x: x(tick), y: plot.y + plot.h + 17, 'text-anchor': 'middle', class: 'tick', text: formatClock(tick, time.seconds) }));
  }
  return group;
}

function bars(points, spec, x, y, yScale) {
  const group = s('g', { class: 'bars' });
  const { key, cls } = spec.series[0];
  const slot = x(points[0].t + spec.stepMs) - x(points[0].t);
  const gap = slot > 6 ? Math.min(3, slot * 0.2) : 0;
  for (const p of points) {
    const v = p[key] ?? 0;
    if (v <= 0) continue;
    group.append(s('rect', { x: x(p.t) + gap / 2, y: y(v), width: Math.max(1, slot - gap), height: Math.max(0.5, y(yScale.min) - y(v)), class: cls, 'data-t': p.t }));
  }
  return group;
}

/** A path through the points that have a value, broken where a step has none; a lone point is a dot. */
function line(points, series, stepMs, x, y) {
  const group = s('g', {});
  const runs = [[]];
  for (const p of points) {
    const v = p[series.key];
    if (v === null || v === undefined || !Number.isFinite(v)) runs.push([]);
    else runs[runs.length - 1].push([x(p.t + stepMs / 2), y(v)]);
  }
  let d = '';
  for (const run of runs.filter((r) => r.length > 0)) {
    if (run.length === 1) group.append(s('circle', { cx: run[0][0], cy: run[0][1], r: 2.5, class: `dot ${series.cls}` }));
    else d += run.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
  }
  group.prepend(s('path', { d, class: `line ${series.cls}` }));
  return group;
}

/** The filled area between two keys (p50 and p99), one polygon per run of steps that have both. */
function band(points, spec, x, y) {
  const group = s('g', { class: spec.band.cls });
  let run = [];
  const flush = () => {
    if (run.length > 0) {
      const top = run.map((p) => `${x(p.t + spec.stepMs / 2).toFixed(1)},${y(p[spec.band.high]).toFixed(1)}`);
      const bottom = run.reverse().map((p) => `${x(p.t + spec.stepMs / 2).toFixed(1)},${y(p[spec.band.low]).toFixed(1)}`);
      group.append(s('polygon', { points: [...top, ...bottom].join(' ') }));
    }
    run = [];
  };
  for (const p of points) {
    if (Number.isFinite(p[spec.band.low]) && Number.isFinite(p[spec.band.high])) run.push(p);
    else flush();
  }
  flush();
  return group;
}

function showHover(container, entry, group, { points, plot, x, y, width }) {
  const { spec, tooltip } = entry;
  group.replaceChildren();
  const point = entry.hoverT === null ? null : points.find((p) => p.t === entry.hoverT);
  if (!point) {
    tooltip.hidden = true;
    return;
  }
  const cx = x(point.t + spec.stepMs / 2);
  group.append(s('line', { x1: cx, x2: cx, y1: plot.y, y2: plot.y + plot.h, class: 'crosshair' }));
  const rows = [];
  if (spec.kind === 'lines') {
    for (const series of spec.series) {
      const v = point[series.key];
      if (Number.isFinite(v)) group.append(s('circle', { cx, cy: y(v), r: 3.5, class: `dot ${series.cls}` }));
    }
  }
  const keys = [...spec.series, ...(spec.band?.label ? [{ key: spec.band.high, label: spec.band.label.high, cls: spec.band.cls }, { key: spec.band.low, label: spec.band.label.low, cls: spec.band.cls }] : [])];
  for (const { key, label, cls } of keys) {
    rows.push(h('div', { class: 'tooltip-row' }, h('span', { class: `swatch ${cls}` }), h('span', { text: label }), h('b', { text: spec.format.value(point[key]) })));
  }
  const seconds = spec.stepMs < 60e3;
  tooltip.replaceChildren(h('div', { class: 'tooltip-time', text: `${formatClock(point.t, seconds)} – ${formatClock(point.t + spec.stepMs, seconds)}` }), ...rows);
  tooltip.hidden = false;
  const left = cx + 14 + tooltip.offsetWidth > width ? cx - 14 - tooltip.offsetWidth : cx + 14;
  tooltip.style.left = `${Math.max(0, left)}px`;
  tooltip.style.top = `${plot.y}px`;
}

/** A small line with its area, no axes: the ingest rate in the sidebar. */
export function renderSparkline(container, values, { height = 36, cls = 'spark' } = {}) {
  const width = Math.max(80, container.clientWidth || 200);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: cls, 'aria-hidden': 'true' });
  if (values.length > 1) {
    const max = Math.max(...values, 1);
    const px = (i) => (i / (values.length - 1)) * width;
    const py = (v) => height - 2 - (v / max) * (height - 4);
    const d = values.map((v, i) => `${i === 0 ? 'M' : 'L'}${px(i).toFixed(1)},${py(v).toFixed(1)}`).join('');
    svg.append(s('path', { d: `${d}L${width},${height}L0,${height}Z`, class: 'spark-area' }), s('path', { d, class: 'spark-line' }));
  }
  container.replaceChildren(svg);
}
