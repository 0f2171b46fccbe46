// The metric list in the sidebar: a link per metric, the shown one marked.

import { h, replace } from './dom.js';
import { metricHref } from './api.js';

export function createMetricNav(list) {
  let drawn = null;
  return {
    update(metrics, active, window) {
      const key = JSON.stringify([metrics, active, window]);
      if (key === drawn) return;
      drawn = key;
      list.dataset.state = metrics.length ? 'ready' : 'empty';
      if (metrics.length === 0) {
        replace(list, h('li', { class: 'muted', text: 'No metrics yet' }));
        return;
      }
      replace(list, metrics.map((metric) => h('li', {},
        h('a', { href: metricHref(metric, window), 'data-nav': '', 'aria-current': metric === active ? 'page' : null, text: metric }))));
    },
  };
}
