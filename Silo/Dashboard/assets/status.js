// The live-status pill in the top bar and the banner that explains a failure.

import { byId } from './dom.js';

const LABELS = {
  connecting: ['Connecting…', 'Waiting for the first numbers from the silo.'],
  live: ['Live', 'Streaming: the silo pushes a snapshot every second (Server-Sent Events, /api/live).'],
  polling: ['Polling', 'The stream is unavailable, so the page asks the silo every second (/api/live/snapshot) and tries the stream again every 10 s.'],
  periodic: ['Live', 'This page asks the silo for its numbers every 2 s.'],
  error: ['Offline', 'The silo did not answer; the page keeps retrying every second.'],
};

export function createStatus() {
  const pill = byId('live-status');
  const banner = byId('banner');
  const view = byId('view');
  return ({ state, error }) => {
    const [label, title] = LABELS[state];
    pill.dataset.state = state;
    pill.textContent = state === 'error' && error?.status ? `Error ${error.status}` : label;
    pill.title = title;
    // Numbers already on the page stay, dimmed, so a short outage does not blank the screen.
    view.classList.toggle('stale', state === 'error');
    if (state === 'error') {
      banner.hidden = false;
      banner.dataset.status = String(error?.status ?? 0);
      banner.textContent = error?.status
        ? `The silo answered ${error.status}: ${error.message} Retrying every second.`
        : `${error?.message ?? 'The silo did not answer.'} Retrying every second.`;
    } else if (state !== 'connecting') {
      banner.hidden = true;
    }
  };
}
