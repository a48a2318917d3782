// The admin page's entry: routing between views by URL (so every view is
// a link that can be shared, reloaded, and left with the back button),
// sign-in, and the collections overview.
//
//   /_admin/                 collections, counts and schemas
//   /_admin/<coll>?<query>   the table: the list language, `_sort`, `_skip`, `_page`
//   /_admin/<coll>/<id>      one document's form
//   /_admin/<coll>/_new      a new document

import { api, collPath, decodeSearch, setToken, token, unauthorized } from './api.js';
import { h, fill, link, fmt, navigate, modal, closeModal } from './ui.js';
import { loadMeta, collections, fields, describe, options } from './schema.js';
import { tableView } from './table.js';
import { docView } from './doc.js';

const main = document.getElementById('main');
let view = null; // the current view's {keydown, leave}

async function render() {
  if (view && view.leave) view.leave();
  view = null;
  const parts = location.pathname.replace(/^\/_admin\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll('#colls a').forEach((a) => a.classList.toggle('on', a.dataset.coll === parts[0]));
  try {
    if (parts.length === 0) view = await overview(main);
    else if (parts.length === 1) view = await tableView(main, parts[0], decodeSearch(location.search));
    else view = await docView(main, parts[0], parts.slice(1).join('/'));
  } catch (e) {
    fill(main, h('div', { class: 'error-box' }, e.message));
  }
}

async function overview(root) {
  const cards = collections().map((c) => {
    const count = h('span', { class: 'count', 'data-count': c.name }, '…');
    if (c.rights.read !== false) {
      api('GET', collPath(c.name), { query: '_page=1&_fields=_id' })
        .then(({ data }) => { count.textContent = `${fmt(data.total)} ${data.total === 1 ? "document" : "documents"}`; })
        .catch((e) => { count.textContent = e.message; });
    } else count.textContent = 'not readable';
    const rights = ['read', 'create', 'modify', 'delete']
      .map((r) => h('span', { class: `badge${c.rights[r] ? ' on' : ''}`, title: c.rights[r] ? `you may ${r}` : `you may not ${r}` }, r));
    const rows = fields(c).map(([name, spec]) => h('tr', {},
      h('td', { class: 'mono' }, name),
      h('td', {}, describe(spec)),
      h('td', {}, h('div', { class: 'badges' }, [...options(spec), spec.index ? 'index' : null, spec.search ? 'search' : null]
        .filter(Boolean).map((o) => h('span', { class: 'badge' }, o))))));
    const sels = c.selections.filter((s) => s.name !== '_all').map((s) => h('li', { class: 'mono' }, `${s.name}: ${s.selectors || ''}`));
    return h('section', { class: 'card', 'data-coll-card': c.name },
      h('h2', {}, link(c.name, c.name), count),
      h('div', {}, rights),
      h('div', { class: 'scroll' }, h('table', { class: 'schema' }, h('thead', {}, h('tr', {}, h('th', {}, 'field'), h('th', {}, 'type'), h('th', {}, 'options'))), h('tbody', {}, rows))),
      sels.length ? [h('h2', {}, 'selections'), h('ul', {}, sels)] : null);
  });
  fill(root, h('h1', {}, 'Collections'), h('div', { class: 'cards' }, cards));
  return null;
}

/** Asks for an API key or JWT; an empty answer signs out. */
async function signIn(reason) {
  const input = h('input', { type: 'password', id: 'token', placeholder: 'API key or JWT', autocomplete: 'off', value: token() });
  const form = h('form', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); closeModal('ok'); } },
    h('h2', {}, 'Sign in'),
    reason ? h('p', { class: 'bad' }, reason) : null,
    h('p', { class: 'muted' }, 'The key is sent as Authorization: Bearer and kept for this browser tab only.'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'),
      h('button', { type: 'button', class: 'ghost', onclick: () => closeModal('out') }, 'Sign out')));
  const done = modal(form);
  input.focus();
  const answer = await done;
  if (answer === 'ok') setToken(input.value.trim());
  else if (answer === 'out') setToken('');
  else return;
  await start();
}

function showWho() {
  document.getElementById('who').textContent = token() ? `Key …${token().slice(-4)}` : 'Sign in';
}

async function start() {
  showWho();
  try {
    await loadMeta();
  } catch (e) {
    fill(main, h('div', { class: 'error-box' }, e.message));
    if (e.status === 401 || e.status === 403) signIn(e.message);
    return;
  }
  fill(document.getElementById('colls'), ...collections().map((c) => {
    const a = link(c.name, c.name);
    a.dataset.coll = c.name;
    return a;
  }));
  await render();
}

// Links inside the page change the view without a reload.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
document.addEventListener('keydown', (e) => {
  if (document.getElementById('dialog').open) return;
  if (view && view.keydown) view.keydown(e);
});
window.addEventListener('popstate', render);
// A page put in the back-forward cache must not keep its change feed open:
// the browser allows six connections per server, so a few cached tables
// would leave none for the page in front. Coming back redraws the view.
window.addEventListener('pagehide', () => { if (view && view.leave) view.leave(); });
window.addEventListener('pageshow', (e) => { if (e.persisted) render(); });
window.addEventListener('refdb:navigate', render);
document.getElementById('who').addEventListener('click', () => signIn());
unauthorized.addEventListener('401', () => {
  if (!document.getElementById('dialog').open) signIn('These credentials are refused (401).');
});
start();
