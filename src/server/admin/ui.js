// Small DOM helpers shared by the views.

/** `h('a', {href, class, onclick}, ...children)`: an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (['value', 'checked', 'disabled', 'readOnly', 'selected'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A link inside the page (`coll`, `coll/id`, `coll?query`). */
export const link = (to, ...children) => h('a', { href: `/_admin/${to}`, 'data-nav': '' }, ...children);

export const fmt = (n) => Number(n).toLocaleString('en-US');

/** Goes to a view of the page, keeping history (the back button works). */
export function navigate(to, { replace = false } = {}) {
  const url = to.startsWith('/') ? to : `/_admin/${to}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event('refdb:navigate'));
}

/** Shows `content` in the page's dialog; resolves when it closes. */
export function modal(...content) {
  const dialog = document.getElementById('dialog');
  dialog.replaceChildren(...content);
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
}

export function closeModal(value = '') {
  const dialog = document.getElementById('dialog');
  if (dialog.open) dialog.close(value);
}

/** A compact text of any JSON value for a table cell. */
export function brief(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v.length > 80 ? `${v.slice(0, 79)}…` : v;
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

/** Timings the page records (navigation → table drawn, query → result), for measurement. */
export function mark(what, ms) {
  (window.refdbTimings ||= []).push({ what, ms: Math.round(ms * 10) / 10 });
}

/** Replaces `el`'s children, skipping null/false as `h` does. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
