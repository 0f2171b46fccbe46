// The main page's feed: Server-Sent Events from /api/live, with polling of /api/live/snapshot
// as the fallback. SSE because the data flows one way, the browser reconnects by itself, and it
// is plain HTTP that proxies and curl understand (SignalR would add a client library and a
// protocol for a one-way stream). Polling covers what SSE cannot: a proxy that buffers the
// stream, a stream the silo ended after a failed query, and telling the person why (an
// EventSource never sees the status or the {"error"} of a refused request; a fetch does).

import { getJson, enc } from './api.js';

const POLL_MS = 1000;
const SSE_RETRY_MS = 10000;

/**
 * createFeed({onSnapshot(snapshot), onStatus({state, error})}) → {setQuery({metric, window, by}), stop()}.
 * state is 'connecting', 'live' (streaming), 'polling' or 'error'.
 */
export function createFeed({ onSnapshot, onStatus }) {
  let query = null;
  let source = null;
  let pollTimer = null;
  let retryTimer = null;
  let polling = false;
  let generation = 0;

  const url = (path) => {
    const params = [`window=${enc(query.window)}`, `by=${enc(query.by)}`];
    if (query.metric) params.unshift(`metric=${enc(query.metric)}`);
    return `${path}?${params.join('&')}`;
  };

  function connect() {
    closeStream();
    if (!('EventSource' in window)) {
      startPolling();
      return;
    }
    const mine = generation;
    source = new EventSource(url('/api/live'));
    source.addEventListener('snapshot', (event) => {
      if (mine !== generation) return;
      stopPolling();
      onStatus({ state: 'live', error: null });
      onSnapshot(JSON.parse(event.data));
    });
    // Any failure (refused, dropped, ended by the silo): close it, poll at once so the page
    // keeps moving and learns the reason, and try the stream again a little later.
    source.addEventListener('error', () => {
      if (mine !== generation) return;
      closeStream();
      startPolling();
    });
  }

  function closeStream() {
    source?.close();
    source = null;
  }

  function startPolling() {
    if (!pollTimer) {
      pollOnce();
      pollTimer = setInterval(pollOnce, POLL_MS);
    }
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, SSE_RETRY_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    clearTimeout(retryTimer);
    pollTimer = retryTimer = null;
  }

  async function pollOnce() {
    if (polling) return;
    polling = true;
    const mine = generation;
    try {
      const snapshot = await getJson(url('/api/live/snapshot'));
      if (mine !== generation) return;
      onStatus({ state: 'polling', error: null });
      onSnapshot(snapshot);
    } catch (error) {
      if (mine === generation) onStatus({ state: 'error', error });
    } finally {
      polling = false;
    }
  }

  return {
    setQuery(next) {
      query = { metric: next.metric ?? null, window: next.window, by: next.by };
      generation += 1;
      stopPolling();
      onStatus({ state: 'connecting', error: null });
      connect();
    },
    stop() {
      generation += 1;
      stopPolling();
      closeStream();
    },
  };
}
