// The dashboard's entry point: picks the page from the address (?source=… for a source,
// otherwise the metric page) and moves between pages without reloading.

import { byId } from './dom.js';
import { createStatus } from './status.js';
import { createMetricNav } from './metric-nav.js';
import { startClusterPanel } from './cluster-panel.js';
import { mountMetricPage } from './metric-page.js';
import { mountSourcePage } from './source-page.js';

const view = byId('view');
const onStatus = createStatus();
const nav = createMetricNav(byId('metric-list'));
const onMetrics = (metrics, active, window) => nav.update(metrics, active, window);
let page = null;

function readAddress() {
  const params = new URLSearchParams(location.search);
  return {
    source: params.get('source'),
    metric: params.get('metric'),
    window: params.get('window') ?? (params.has('source') ? '1h' : '5m'),
    by: params.get('by') ?? 'count',
  };
}

function route() {
  const address = readAddress();
  document.title = `${address.source ?? address.metric ?? 'Metrics'} · Analytics`;
  if (page?.kind === 'metric' && !address.source) {
    // Same page, another metric or window: keep the page and re-point its feed.
    page.setQuery(address);
    return;
  }
  page?.destroy();
  page = address.source
    ? mountSourcePage(view, address, { onStatus, onMetrics })
    : mountMetricPage(view, address, { onStatus, onMetrics, navigate });
}

function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  route();
}

// Links marked data-nav move within the page; any other link (a source in the top list, say)
// is an ordinary navigation, so it opens in a new tab when asked and reloads cleanly.
document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[data-nav]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', route);

startClusterPanel(byId('cluster-panel'), byId('cluster-summary'));
route();
