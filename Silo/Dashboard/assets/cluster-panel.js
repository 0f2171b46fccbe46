// Ingest rate and stream-queue lag, from /api/cluster every two seconds: the events each queue's
// reader has taken from the stream since the last look, and how far it is behind the newest
// record. A rate that drops while lag grows is the service falling behind.

import { h, replace } from './dom.js';
import { getJson } from './api.js';
import { renderSparkline } from './chart.js';
import { formatCount, formatDuration } from './format.js';

const POLL_MS = 2000;
const HISTORY = 60;
const LAG_WARN_MS = 5000;
const LAG_BAD_MS = 60000;

export function startClusterPanel(panel, summary) {
  let previous = null;
  const history = [];
  const rate = h('b', { id: 'ingest-rate', class: 'rate-value', text: '…' });
  const spark = h('div', { class: 'spark-box' });
  const silos = h('p', { class: 'small muted' });
  const queues = h('tbody');
  const problem = h('p', { class: 'small error-text', hidden: true });
  const runtimes = h('tbody');
  replace(panel,
    h('h2', { class: 'section-title' }, 'Ingest'),
    h('div', { class: 'rate' }, rate, h('span', { class: 'muted', text: ' events/s' })),
    spark,
    silos,
    problem,
    h('h2', { class: 'section-title' }, 'Stream queues'),
    h('table', { class: 'queue-table', id: 'queue-table' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Queue' }), h('th', { class: 'num', text: 'ev/s' }), h('th', { class: 'num', text: 'Lag' }))),
      queues),
    h('p', { class: 'small muted', text: 'Lag: how far a reader is behind the newest record. “—”: the stream does not report it (the embedded local log).' }),
    h('h2', { class: 'section-title' }, 'Silos'),
    h('table', { class: 'queue-table', id: 'silo-table' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Silo' }), h('th', { class: 'num', text: 'CPU' }), h('th', { class: 'num', title: 'share of the time the GC paused the silo', text: 'GC' }), h('th', { class: 'num', text: 'Heap' }))),
      runtimes),
    h('p', { class: 'small muted', text: 'CPU: share of one core. GC: share of the time the garbage collector paused the silo; requests arriving then wait, so a high share means a slow tail.' }));

  async function poll() {
    let cluster;
    try {
      cluster = await getJson('/api/cluster');
    } catch (error) {
      problem.hidden = false;
      problem.textContent = error.status ? `/api/cluster answered ${error.status}: ${error.message}` : error.message;
      return;
    }
    problem.hidden = true;
    const now = performance.now();
    const rows = cluster.silos.flatMap((silo) => (silo.queues ?? []).map((q) => ({ silo, ...q, key: `${silo.address}|${q.queue}` })));
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    // Per queue, and never negative: a queue that moved to another silo starts its count again.
    const rateOf = (row) => (previous?.events.has(row.key) && seconds > 0 ? Math.max(0, row.events - previous.events.get(row.key)) / seconds : null);
    const rates = rows.map(rateOf);
    const total = previous ? rates.reduce((sum, r) => sum + (r ?? 0), 0) : null;
    const runtimeRows = cluster.silos.filter((silo) => silo.runtime).map((silo) => ({ silo, ...runtimeShares(silo, previous, seconds) }));
    previous = {
      at: now,
      events: new Map(rows.map((r) => [r.key, r.events])),
      runtimes: new Map(cluster.silos.filter((s) => s.runtime).map((s) => [s.address, s.runtime])),
    };
    if (total !== null) {
      history.push(total);
      if (history.length > HISTORY) history.shift();
    }

    rate.textContent = total === null ? '…' : formatCount(Math.round(total));
    renderSparkline(spark, history);
    const active = cluster.silos.filter((s) => s.status === 'Active');
    const unreachable = cluster.silos.filter((s) => s.error);
    silos.textContent = `${active.length} of ${cluster.silos.length} silo${cluster.silos.length === 1 ? '' : 's'} active` +
      (unreachable.length ? ` · ${unreachable.length} not answering` : '');
    const many = cluster.silos.length > 1;
    replace(queues, rows.map((row, i) => h('tr', {},
      h('td', { title: `${row.queue} on ${row.silo.name}: ${formatCount(row.events)} events read, checkpoint ${row.checkpoint ?? 'none'}`, text: many ? `${row.queue} · ${row.silo.name}` : row.queue }),
      h('td', { class: 'num', text: rates[i] === null ? '…' : formatCount(Math.round(rates[i])) }),
      h('td', { class: `num ${lagClass(row.iteratorAgeMs)}`, text: formatDuration(row.iteratorAgeMs) }))));

    replace(runtimes, runtimeRows.map((row) => h('tr', {},
      h('td', { title: `${row.silo.address}: ${row.silo.runtime.gen0Collections} / ${row.silo.runtime.gen1Collections} / ${row.silo.runtime.gen2Collections} collections (gen 0 / 1 / 2), ${row.silo.runtime.threadPoolThreads} pool threads`, text: row.silo.name }),
      h('td', { class: 'num', text: formatShare(row.cpu) }),
      h('td', { class: `num ${row.paused >= PAUSE_WARN ? 'warn' : ''}`, text: formatShare(row.paused) }),
      h('td', { class: 'num', text: `${formatCount(Math.round(row.silo.runtime.heapBytes / 1048576))} MB` }))));

    const lags = rows.map((r) => r.iteratorAgeMs).filter((l) => l !== null && l !== undefined);
    const worst = lags.length ? Math.max(...lags) : null;
    replace(summary,
      h('span', { text: `${active.length} silo${active.length === 1 ? '' : 's'}` }),
      h('span', { text: `${rows.length} queues` }),
      h('span', { text: `${total === null ? '…' : formatCount(Math.round(total))} ev/s` }),
      h('span', { class: lagClass(worst), text: `lag ${formatDuration(worst)}` }));
  }

  // The next look two seconds after the last answer, not on a fixed beat: /api/cluster waits up
  // to 2 s for a silo that does not answer, and looks must not pile up behind it.
  const loop = () => poll().finally(() => setTimeout(loop, POLL_MS));
  loop();
}

const PAUSE_WARN = 0.1;

// CPU and GC pause as shares of the wall time between two looks at the same silo; null on the
// first look, and when the silo restarted (its totals went back).
function runtimeShares(silo, previous, seconds) {
  const before = previous?.runtimes?.get(silo.address);
  const now = silo.runtime;
  if (!before || seconds <= 0 || now.cpuSeconds < before.cpuSeconds) return { cpu: null, paused: null };
  return {
    cpu: (now.cpuSeconds - before.cpuSeconds) / seconds,
    paused: Math.max(0, now.gcPauseMs - before.gcPauseMs) / 1000 / seconds,
  };
}

function formatShare(share) {
  return share === null ? '…' : `${Math.round(share * 100)} %`;
}

function lagClass(ms) {
  if (ms === null || ms === undefined) return '';
  return ms >= LAG_BAD_MS ? 'bad' : ms >= LAG_WARN_MS ? 'warn' : 'ok';
}
