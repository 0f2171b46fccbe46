// A source's page: each of its metrics with the last value, window aggregates and a series.
// It polls every two seconds: a source is one grain and its figures change at the pace of one
// device, so a stream of its own would buy little.

import { h, replace } from './dom.js';
import { renderChart } from './chart.js';
import { formatAgo, formatClock, formatCount, formatDateTime, formatTick, formatValue } from './format.js';
import { ApiError, durationMs, enc, getJson, metricHref, sourceHref } from './api.js';
import { segmented, stateCard } from './controls.js';

const POLL_MS = 2000;
const WINDOWS = [['5m', '5 min'], ['1h', '1 hour'], ['24h', '24 hours']];
// Source grains keep 1 min buckets for an hour and 15 min buckets for a day.
const STEPS = { '5m': '1m', '1h': '1m', '24h': '15m' };

export function mountSourcePage(root, initial, { onStatus, onMetrics }) {
  const source = initial.source;
  let window = STEPS[initial.window] ? initial.window : '1h';
  let timer = null;
  let stopped = false;
  let generation = 0;

  const subtitle = h('p', { class: 'view-subtitle muted' });
  const windows = segmented(WINDOWS, window, (w) => {
    window = w;
    history.replaceState(null, '', sourceHref(source, window));
    generation += 1;
    refresh();
  }, 'Window');
  const card = h('div', { class: 'state-card', hidden: true });
  const grid = h('div', { class: 'source-grid', id: 'source-metrics' });
  replace(root,
    h('a', { class: 'back-link', href: '/', 'data-nav': '', text: '← All metrics' }),
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { class: 'view-title', id: 'source-title', text: source }), subtitle), windows.element),
    card, grid);
  root.dataset.state = 'loading';
  replace(grid, h('p', { class: 'muted', text: 'Loading…' }));

  async function refresh() {
    clearTimeout(timer);
    const mine = generation;
    try {
      // The sidebar's list, whatever becomes of the source itself.
      getJson('/api/metrics').then((metrics) => !stopped && onMetrics(metrics.map((m) => m.metric), null, '5m'), () => {});
      const summary = await getJson(`/api/sources/${enc(source)}?window=${enc(window)}`);
      const names = Object.keys(summary.metrics).sort();
      const series = await Promise.all(names.map((m) => getJson(seriesUrl(source, m, window))));
      if (stopped || mine !== generation) return;
      onStatus({ state: 'periodic', error: null });
      draw(summary, names, series);
    } catch (error) {
      if (stopped || mine !== generation) return;
      if (error instanceof ApiError && error.status === 404) {
        onStatus({ state: 'periodic', error: null });
        root.dataset.state = 'not-found';
        grid.hidden = true;
        subtitle.textContent = '';
        stateCard(card, { state: 'not-found', title: error.message, lines: ['It appears here as soon as its first event arrives.'] });
      } else {
        onStatus({ state: 'error', error });
      }
    } finally {
      if (!stopped && mine === generation) timer = setTimeout(refresh, POLL_MS);
    }
  }

  function draw(summary, names, series) {
    root.dataset.state = 'ready';
    card.hidden = true;
    grid.hidden = false;
    const last = Date.parse(summary.lastSeen);
    subtitle.textContent = `First seen ${formatDateTime(Date.parse(summary.firstSeen))} · last seen ${formatDateTime(last)} (${formatAgo(summary.lastSeen)})`;
    const stepMs = durationMs(STEPS[window]);
    replace(grid, names.map((metric, i) => {
      const m = summary.metrics[metric];
      const value = h('div', { class: 'last-value', 'data-metric': metric, 'data-value': m.last, text: formatValue(m.last) });
      const chart = h('div', { class: 'mini-chart' });
      const element = h('section', { class: 'card source-card' },
        h('header', { class: 'card-head' }, h('h2', {}, h('a', { href: metricHref(metric), 'data-nav': '', text: metric })),
          h('span', { class: 'card-note', text: `last at ${formatClock(Date.parse(m.lastTimestamp), true)} · ${formatAgo(m.lastTimestamp)}` })),
        value,
        h('dl', { class: 'mini-stats' },
          [['Count', formatCount(m.count)], ['Min', formatValue(m.min)], ['Max', formatValue(m.max)], ['Mean', formatValue(m.mean)]]
            .map(([label, text]) => h('div', {}, h('dt', { text: label }), h('dd', { text })))),
        chart);
      // Drawn once attached, so the chart knows its width.
      queueMicrotask(() => renderChart(chart, {
        points: series[i].points.map((p) => ({ ...p, t: Date.parse(p.t) })), stepMs, kind: 'lines',
        series: [{ key: 'mean', label: 'Mean', cls: 's-mean' }],
        band: { low: 'min', high: 'max', cls: 'band', label: { low: 'Min', high: 'Max' } },
        format: { tick: formatTick, value: formatValue }, height: 130,
        label: `${metric} of ${source}`, empty: 'No values in this window.',
      }));
      return element;
    }));
  }

  refresh();
  return {
    kind: 'source',
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Whole steps ending with the current one, as the live feed does for metrics. */
function seriesUrl(source, metric, window) {
  const stepMs = durationMs(STEPS[window]);
  const now = Date.now();
  const from = now - (now % stepMs) + stepMs - durationMs(window);
  return `/api/sources/${enc(source)}/series?metric=${enc(metric)}&from=${new Date(from).toISOString()}&to=${new Date(now).toISOString()}&step=${STEPS[window]}`;
}
