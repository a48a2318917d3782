// The table of one collection: the list language in a query box, exact
// totals, sorting by column, `_skip` paging, keyboard navigation, live
// updates from the change feed. The URL holds the whole state.

import { api, collPath, encodeQuery, parseQuery, showQuery, follow } from './api.js';
import { h, fill, link, fmt, navigate, brief, mark } from './ui.js';
import { collection, fields, isDerived, reverseFilter } from './schema.js';
import { toolbar } from './tools.js';

const CONTROL = new Set(['_skip', '_page', '_sort']);
const SIZES = [10, 20, 50, 100, 500];

export async function tableView(root, coll, pairs) {
  const started = performance.now();
  const meta = collection(coll);
  if (!meta) throw new Error(`no collection ${coll} (or you may not see it)`);
  const ctl = Object.fromEntries(pairs.filter(([k]) => CONTROL.has(k)));
  const filters = pairs.filter(([k]) => !CONTROL.has(k));
  const size = Math.max(1, parseInt(ctl._page || '20', 10) || 20);
  const skip = Math.max(0, parseInt(ctl._skip || '0', 10) || 0);
  const sort = ctl._sort || '';
  const cols = fields(meta);

  /** The URL of this table with some state changed. */
  const to = ({ f = filters, s = sort, k = 0, n = size } = {}) => {
    const q = [...f];
    if (s) q.push(['_sort', s]);
    if (k) q.push(['_skip', String(k)]);
    if (n !== 20) q.push(['_page', String(n)]);
    return q.length ? `${encodeURIComponent(coll)}?${encodeQuery(q)}` : encodeURIComponent(coll);
  };

  const box = h('input', {
    id: 'q', type: 'search', value: showQuery(filters), spellcheck: 'false', autocomplete: 'off',
    placeholder: 'name.$re=(?i)do&age.$gte=30', 'aria-label': 'query',
  });
  const form = h('form', {
    id: 'query', onsubmit: (e) => {
      e.preventDefault();
      window.refdbQueryStart = performance.now();
      // `_sort`, `_skip` and `_page` typed in the box work as well.
      const typed = parseQuery(box.value);
      const c = Object.fromEntries(typed.filter(([k]) => CONTROL.has(k)));
      navigate(to({
        f: typed.filter(([k]) => !CONTROL.has(k)),
        s: c._sort ?? sort,
        k: Math.max(0, parseInt(c._skip || '0', 10) || 0),
        n: Math.max(1, parseInt(c._page || String(size), 10) || size),
      }));
    },
  }, box, h('button', { type: 'submit' }, 'Search'));
  const chips = h('div', { class: 'chips', id: 'chips' });
  const error = h('div', { class: 'error-box', id: 'query-error', hidden: true });
  const numeric = new Set(cols.filter(([, s]) => ['int', 'float', 'refs'].includes(s.type)).map(([n]) => n));
  const head = h('tr', {}, ['_id', ...cols.map(([n]) => n)].map((name) => {
    const dir = sort === name ? '▲' : sort === `-${name}` ? '▼' : '';
    return h('th', {
      class: `sortable${numeric.has(name) ? ' num' : ''}`, 'data-col': name, title: 'sort by this column',
      onclick: () => navigate(to({ s: sort === name ? `-${name}` : sort === `-${name}` ? '' : name })),
    }, name, dir ? h('span', { class: 'dir' }, ` ${dir}`) : null);
  }));
  const body = h('tbody', { id: 'rows' });
  const info = h('span', { class: 'info', id: 'info' }, '…');
  const pageBox = h('input', { id: 'goto', type: 'number', min: '1', 'aria-label': 'page', title: 'go to page (Enter)' });
  const pager = h('div', { class: 'pager' },
    h('button', { type: 'button', class: 'ghost', id: 'first', onclick: () => navigate(to({ k: 0 })) }, '« First'),
    h('button', { type: 'button', class: 'ghost', id: 'prev', onclick: () => navigate(to({ k: Math.max(0, skip - size) })) }, '◀ Prev'),
    h('button', { type: 'button', class: 'ghost', id: 'next', onclick: () => navigate(to({ k: skip + size })) }, 'Next ▶'),
    info,
    h('label', {}, 'page ', pageBox),
    h('label', {}, 'per page ', h('select', { id: 'size', onchange: (e) => navigate(to({ n: +e.target.value })) },
      SIZES.map((n) => h('option', { value: String(n), selected: n === size }, String(n))))));
  const tools = toolbar(coll, filters, () => load());
  fill(root,
    h('h1', {}, link(encodeURIComponent(coll), coll)),
    h('div', { class: 'toolbar' }, form, tools.buttons),
    chips, error, tools.panel,
    h('div', { class: 'scroll' }, h('table', { id: 'table' }, h('thead', {}, head), body)),
    pager);

  let rows = [];
  let sel = -1;
  const select = (i) => {
    if (!rows.length) return;
    sel = Math.max(0, Math.min(rows.length - 1, i));
    body.querySelectorAll('tr').forEach((tr, j) => tr.classList.toggle('sel', j === sel));
    body.children[sel].focus({ preventScroll: false });
  };
  const open = (id) => navigate(`${encodeURIComponent(coll)}/${encodeURIComponent(id)}`);

  function showChips(badKey, message) {
    fill(chips, ...filters.map(([k, v]) => h('span', { class: `chip${k === badKey ? ' bad' : ''}`, 'data-param': k }, `${k}=${v}`)));
    error.hidden = !message;
    error.textContent = message || '';
    if (badKey) {
      // Select the offending parameter in the box, where it can be fixed.
      const text = box.value;
      const at = text.indexOf(`${badKey}=`);
      if (at >= 0) {
        const end = text.indexOf('&', at);
        box.setSelectionRange(at, end < 0 ? text.length : end);
      }
    }
  }

  async function load() {
    const q = [...filters, ['_skip', String(skip)], ['_page', String(size)]];
    if (sort) q.push(['_sort', sort]);
    let data;
    try {
      ({ data } = await api('GET', collPath(coll), { query: encodeQuery(q) }));
    } catch (e) {
      const key = e.path ? e.path.replace(/^\$\./, '') : null;
      showChips(key, `${e.message}${e.path ? ` (at ${e.path})` : ''}`);
      fill(body);
      info.textContent = '';
      return;
    }
    showChips(null, null);
    rows = data.result;
    fill(body, ...rows.map((doc, i) => h('tr', {
      tabindex: '-1', 'data-id': doc._id,
      onclick: (e) => { if (!e.target.closest('a')) open(doc._id); },
      onfocus: () => { sel = i; body.querySelectorAll('tr').forEach((tr, j) => tr.classList.toggle('sel', j === i)); },
    }, h('td', { class: 'mono' }, link(`${encodeURIComponent(coll)}/${encodeURIComponent(doc._id)}`, doc._id)),
    cols.map(([name, spec]) => cell(coll, doc, name, spec)))));
    const pages = Math.max(1, Math.ceil(data.total / size));
    const page = Math.floor(skip / size) + 1;
    info.textContent = data.total === 0 ? 'no documents match'
      : `${fmt(Math.min(skip + 1, data.total))}–${fmt(Math.min(skip + rows.length, data.total))} of ${fmt(data.total)} · page ${fmt(page)} of ${fmt(pages)}`;
    info.dataset.total = String(data.total);
    pageBox.max = String(pages);
    pageBox.placeholder = String(page);
    pager.querySelector('#prev').disabled = skip === 0;
    pager.querySelector('#first').disabled = skip === 0;
    pager.querySelector('#next').disabled = skip + size >= data.total;
    if (sel >= 0 && rows.length) select(Math.min(sel, rows.length - 1));
  }

  pageBox.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const p = parseInt(pageBox.value, 10);
    if (p >= 1) navigate(to({ k: (p - 1) * size }));
  });

  await load();
  mark('table', performance.now() - started);
  // performance.now() counts from the navigation that loaded the page.
  if (!window.refdbFirstTable) { window.refdbFirstTable = true; mark('navigation-to-table', performance.now()); }
  if (window.refdbQueryStart) {
    mark('query', performance.now() - window.refdbQueryStart);
    window.refdbQueryStart = null;
  }
  document.body.dataset.view = 'table';

  // Live: any committed change to this collection redraws the page shown
  // (at most a few times a second).
  const live = document.getElementById('live');
  const stop = new AbortController();
  let pending = null;
  follow(coll, stop.signal, () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; load(); }, 250);
  }).catch(() => {}).finally(() => { live.hidden = true; });
  live.hidden = false;

  return {
    leave() { stop.abort(); clearTimeout(pending); live.hidden = true; },
    keydown(e) {
      const typing = e.target.closest('input, textarea, select');
      if (e.key === '/' && !typing) { e.preventDefault(); box.focus(); box.select(); return; }
      if (e.key === 'Escape' && typing) { e.target.blur(); return; }
      if (typing) return;
      if (e.key === 'ArrowDown') { e.preventDefault(); select(sel + 1); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); select(sel - 1); }
      else if (e.key === 'Enter' && sel >= 0 && rows[sel]) { e.preventDefault(); open(rows[sel]._id); }
      else if (e.key === 'ArrowRight' && skip + size < +info.dataset.total) navigate(to({ k: skip + size }));
      else if (e.key === 'ArrowLeft' && skip > 0) navigate(to({ k: Math.max(0, skip - size) }));
    },
  };
}

/** One cell: references as links, reverse lists as a count linking to them. */
function cell(coll, doc, name, spec) {
  const v = doc[name];
  if (v === null || v === undefined) return h('td', { class: 'null' }, '');
  if (spec.type === 'ref') {
    return h('td', { class: 'mono' }, link(`${encodeURIComponent(spec.collection)}/${encodeURIComponent(v)}`, v));
  }
  if (spec.type === 'refs' && Array.isArray(v)) {
    const filter = isDerived(spec) ? reverseFilter(spec, doc._id) : null;
    const label = `${fmt(v.length)} ${spec.collection}`;
    return h('td', { class: 'num' }, filter
      ? link(`${encodeURIComponent(spec.collection)}?${encodeQuery(filter)}`, label)
      : label);
  }
  if (spec.type === 'bool') return h('td', {}, v ? 'true' : 'false');
  if (spec.type === 'int' || spec.type === 'float') return h('td', { class: 'num' }, String(v));
  return h('td', { title: typeof v === 'string' ? v : JSON.stringify(v) }, brief(v));
}
