// The main page: one metric's tiles, charts and top sources over a window, live from the feed.

import { h, replace } from './dom.js';
import { renderChart } from './chart.js';
import { formatCount, formatValue, formatTick, stepLabel } from './format.js';
import { createFeed } from './live.js';
import { durationMs, metricHref, pageHref, sourceHref } from './api.js';
import { segmented, tiles, stateCard } from './controls.js';

const WINDOWS = [['5m', '5 min'], ['1h', '1 hour'], ['24h', '24 hours']];
const ORDERS = [['count', 'Count'], ['max', 'Max'], ['mean', 'Mean']];
const TILES = [
  ['count', 'Count', formatCount], ['mean', 'Mean', formatValue], ['min', 'Min', formatValue],
  ['max', 'Max', formatValue], ['p50', 'p50', formatValue], ['p90', 'p90', formatValue],
  ['p99', 'p99', formatValue], ['distinctSources', 'Sources', formatCount], ['late', 'Late', formatCount],
];
const VALUE_SERIES = [
  { key: 'p99', label: 'p99', cls: 's-p99' },
  { key: 'p50', label: 'p50', cls: 's-p50' },
  { key: 'mean', label: 'Mean', cls: 's-mean' },
];

/** Mounts the page in root for {metric, window, by}; returns {kind, setQuery(query), destroy()}. */
export function mountMetricPage(root, initial, { onStatus, onMetrics, navigate }) {
  let query = { ...initial };

  const title = h('h1', { class: 'view-title', text: query.metric ?? 'Metrics' });
  const subtitle = h('p', { class: 'view-subtitle muted' });
  const windows = segmented(WINDOWS, query.window, (window) => change({ window }), 'Window');
  const orders = segmented(ORDERS, query.by, (by) => change({ by }), 'Order top sources by');
  const stats = tiles(TILES);
  const countTitle = h('h2', { text: 'Events' });
  const countChart = h('div', { id: 'count-chart' });
  const valueChart = h('div', { id: 'value-chart' });
  const topBody = h('tbody');
  const card = h('div', { class: 'state-card', hidden: true });
  const content = h('div', { class: 'metric-content' },
    stats.element,
    h('div', { class: 'chart-grid' },
      h('section', { class: 'card' }, h('header', { class: 'card-head' }, countTitle), countChart),
      h('section', { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', { text: 'Value' }), legend()),
        valueChart)),
    h('section', { class: 'card top-card' },
      h('header', { class: 'card-head' }, h('h2', { text: 'Top sources' }), orders.element),
      h('div', { class: 'table-scroll' },
        h('table', { class: 'top-table', id: 'top-sources' },
          h('thead', {}, h('tr', {}, ['#', 'Source', 'Count', 'Max', 'Mean'].map((c, i) => h('th', { class: i > 1 ? 'num' : null, text: c })))),
          topBody))));
  replace(root, h('div', { class: 'view-head' }, h('div', {}, title, subtitle), windows.element), card, content);
  showLoading();

  const feed = createFeed({ onSnapshot: update, onStatus });
  feed.setQuery(query);

  function change(part) {
    query = { ...query, ...part };
    history.replaceState(null, '', pageHref(query));
    showLoading();
    feed.setQuery(query);
  }

  function showLoading() {
    root.dataset.state = 'loading';
    card.hidden = true;
    content.hidden = false;
    stats.update(null);
    replace(topBody);
    for (const chart of [countChart, valueChart]) replace(chart, h('div', { class: 'chart-loading muted', text: 'Loading…' }));
  }

  function update(snapshot) {
    onMetrics(snapshot.metrics, snapshot.metric, query.window);
    if (!query.metric) {
      if (snapshot.metrics.length > 0) {
        // Nothing chosen yet: show the first metric, as if it had been clicked.
        navigate(metricHref(snapshot.metrics[0], query.window), { replace: true });
        return;
      }
      title.textContent = 'Metrics';
      subtitle.textContent = '';
      showState({
        state: 'empty', title: 'No metrics yet',
        lines: ['Nothing has been sent to this silo yet. Send events and they appear here within a second:'],
        extra: [h('pre', { class: 'code', text: "curl -X POST http://HOST/api/events -H 'Content-Type: application/json' \\\n  -d '[{\"source\": \"dev-1\", \"metric\": \"temperature\", \"value\": 21.5}]'".replace('HOST', location.host) }),
          h('p', { class: 'muted', text: 'Or start the silo with --simulate for demo data.' })],
      });
      return;
    }
    title.textContent = snapshot.metric;
    if (snapshot.notFound) {
      subtitle.textContent = '';
      const others = snapshot.metrics.filter((m) => m !== snapshot.metric);
      showState({
        state: 'not-found', title: snapshot.notFound,
        lines: ['It appears here as soon as its first event arrives.'],
        extra: others.length ? [h('p', { text: 'Known metrics:' }), h('ul', { class: 'chips' }, others.map((m) => h('li', {}, h('a', { href: metricHref(m, query.window), 'data-nav': '', text: m }))))] : [],
      });
      return;
    }
    root.dataset.state = 'ready';
    card.hidden = true;
    content.hidden = false;
    const s = snapshot.stats;
    subtitle.textContent = `Last ${WINDOWS.find(([w]) => durationMs(w) === durationMs(snapshot.window))?.[1] ?? snapshot.window} · ${formatCount(s.count)} events from ${formatCount(s.distinctSources)} sources`;
    stats.update(s);
    drawCharts(snapshot);
    drawTop(snapshot.top);
  }

  function showState(options) {
    root.dataset.state = options.state;
    content.hidden = true;
    stateCard(card, options);
  }

  function drawCharts(snapshot) {
    const stepMs = durationMs(snapshot.step) ?? 10e3;
    const points = snapshot.series.points.map((p) => ({ ...p, t: Date.parse(p.t) }));
    countTitle.textContent = `Events per ${stepLabel(snapshot.step)}`;
    renderChart(countChart, {
      points, stepMs, kind: 'bars', series: [{ key: 'count', label: 'Events', cls: 's-count' }],
      format: { tick: formatTick, value: formatCount }, height: 200,
      label: `Events of ${snapshot.metric} per ${stepLabel(snapshot.step)}`, empty: 'No events in this window yet.',
    });
    renderChart(valueChart, {
      points, stepMs, kind: 'lines', series: VALUE_SERIES, band: { low: 'p50', high: 'p99', cls: 'band' },
      format: { tick: formatTick, value: formatValue }, height: 200,
      label: `Mean, p50 and p99 of ${snapshot.metric} per ${stepLabel(snapshot.step)}`, empty: 'No values in this window yet.',
    });
  }

  function drawTop(top) {
    const key = top.by;
    const scale = Math.max(...top.items.map((i) => Math.abs(i[key])), 0) || 1;
    if (top.items.length === 0) {
      replace(topBody, h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No sources in this window.' })));
      return;
    }
    replace(topBody, top.items.map((item, index) => {
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${(Math.abs(item[key]) / scale) * 100}%`;
      return h('tr', {},
        h('td', { class: 'rank', text: index + 1 }),
        h('td', { class: 'source-cell' }, bar, h('a', { href: sourceHref(item.source), class: 'source-link', text: item.source })),
        h('td', { class: `num${key === 'count' ? ' sorted' : ''}`, text: formatCount(item.count) }),
        h('td', { class: `num${key === 'max' ? ' sorted' : ''}`, text: formatValue(item.max) }),
        h('td', { class: `num${key === 'mean' ? ' sorted' : ''}`, text: formatValue(item.mean) }));
    }));
  }

  return {
    kind: 'metric',
    setQuery(next) {
      windows.set(next.window);
      orders.set(next.by);
      query = { ...next };
      title.textContent = query.metric ?? 'Metrics';
      showLoading();
      feed.setQuery(query);
    },
    destroy() {
      feed.stop();
    },
  };
}

function legend() {
  return h('div', { class: 'legend' }, VALUE_SERIES.slice().reverse().map(({ label, cls }) => h('span', {}, h('span', { class: `swatch ${cls}` }), label)));
}
