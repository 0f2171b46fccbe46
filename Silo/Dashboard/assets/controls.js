// Small shared pieces of the pages: segmented buttons, stat tiles, state cards.

import { h, replace } from './dom.js';

/** A row of toggle buttons; onChange(value) when another is pressed. Returns {element, set(value)}. */
export function segmented(options, current, onChange, label) {
  const buttons = options.map(([value, text]) => h('button', {
    type: 'button', 'data-value': value, 'aria-pressed': String(value === current), text,
    onclick: () => {
      if (set(value)) onChange(value);
    },
  }));
  const element = h('div', { class: 'segmented', role: 'group', 'aria-label': label }, buttons);
  function set(value) {
    const changed = value !== current;
    current = value;
    for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.value === value));
    return changed;
  }
  return { element, set };
}

/** Stat tiles: [[key, label, format]]. Returns {element, update(values | null)}; null shows the loading look. */
export function tiles(definitions) {
  const cells = new Map();
  const element = h('div', { class: 'tiles' }, definitions.map(([key, label]) => {
    const value = h('div', { class: 'tile-value skeleton', text: '…' });
    cells.set(key, value);
    return h('div', { class: 'tile', 'data-key': key }, h('div', { class: 'tile-label', text: label }), value);
  }));
  function update(values) {
    for (const [key, , format] of definitions) {
      const cell = cells.get(key);
      const v = values?.[key];
      const text = values ? format(v) : '…';
      cell.textContent = text;
      // Long figures (a pressure of 1,013.3, a sum of 1.23e+300) get a smaller type, so nine
      // tiles still fit a row at 1280 px without cutting digits off.
      cell.dataset.size = text.length <= 6 ? 'l' : text.length <= 7 ? 'm' : text.length <= 9 ? 's' : 'xs';
      cell.title = values ? String(v ?? '') : '';
      cell.classList.toggle('skeleton', !values);
      if (values && v !== null && v !== undefined) cell.dataset.value = String(v);
      else delete cell.dataset.value;
    }
  }
  return { element, update };
}

/** The card for an empty, not-found or failed view: a title, a few lines, and any extra nodes. */
export function stateCard(card, { state, title, lines = [], extra = [] }) {
  card.hidden = false;
  card.dataset.state = state;
  replace(card, h('h2', { text: title }), lines.map((line) => h('p', { text: line })), extra);
}
