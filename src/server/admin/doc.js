// One document: a form generated from the schema (every type, lists,
// nested dicts, required, `in` choices), `$.path` errors from `_check` as
// you type and from the server on save, `If-Match` on save, references as
// links with a picker, reverse lists as links with counts, and a delete
// that shows its dry run first.

import { api, collPath, docPath, encodeQuery } from './api.js';
import { h, fill, link, fmt, navigate, modal, closeModal, mark } from './ui.js';
import { collection, fields, canModify, isDerived, reverseFilter, labelField } from './schema.js';
import { parseTyped } from './tools.js';

export async function docView(root, coll, id) {
  const started = performance.now();
  const meta = collection(coll);
  if (!meta) throw new Error(`no collection ${coll} (or you may not see it)`);
  const isNew = id === '_new';
  let doc = {};
  let etag = null;
  if (!isNew) ({ data: doc, etag } = await api('GET', docPath(coll, id)));

  const editors = [];
  const banner = h('div', { id: 'banner' });
  const form = h('form', { class: 'doc', id: 'doc', novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } });
  if (isNew) {
    const ed = editor({ type: 'string', path: '$._id', rights: { modify: true } }, null, false);
    editors.push(['_id', ed]);
    form.append(h('label', { for: ed.input?.id }, '_id'), h('div', {}, ed.el, h('div', { class: 'hint' }, 'optional: generated when empty')));
  }
  for (const [name, spec] of fields(meta)) {
    const readOnly = !canModify(spec);
    const label = h('label', {}, name, spec.required ? h('span', { class: 'req', title: 'required' }, ' *') : null);
    if (isDerived(spec)) {
      if (!isNew) form.append(label, reverseList(spec, doc[name] || [], doc._id));
      continue;
    }
    const ed = editor(spec, isNew ? spec.default ?? null : doc[name] ?? null, readOnly);
    editors.push([name, ed]);
    form.append(label, ed.el);
  }
  const saveBtn = h('button', { type: 'submit', id: 'save' }, isNew ? 'Create' : 'Save');
  if ((isNew ? meta.rights.create : meta.rights.modify) === false) saveBtn.disabled = true;
  form.append(h('div', { class: 'actions' }, saveBtn,
    isNew ? null : h('button', { type: 'button', class: 'danger', id: 'delete', disabled: meta.rights.delete === false, onclick: () => remove() }, 'Delete…'),
    link(encodeURIComponent(coll), 'Back to the table')));

  const m = doc._meta;
  fill(root,
    h('h1', {}, link(encodeURIComponent(coll), coll), ' / ', h('span', { class: 'mono', id: 'doc-id' }, isNew ? 'new' : doc._id)),
    m ? h('div', { class: 'docmeta' }, `created ${m.ctime} by ${m.created_by?.login} · modified ${m.mtime} by ${m.modified_by?.login}`) : null,
    banner, form);
  document.body.dataset.view = 'doc';
  mark('doc', performance.now() - started);

  /** The document the form holds (only the fields this caller may change). */
  function value() {
    const out = {};
    for (const [name, ed] of editors) {
      if (ed.readOnly) continue;
      const v = ed.get();
      if (name === '_id' && (v === null || v === '')) continue;
      out[name] = v;
    }
    return out;
  }

  /** Shows `message` at the editor of `path` (its nearest ancestor with one). */
  function showError(path, message) {
    let target = null;
    for (const el of form.querySelectorAll('[data-path]')) {
      const p = el.dataset.path;
      if ((path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)) && (!target || p.length > target.dataset.path.length)) target = el;
    }
    if (!target) { fill(banner, h('div', { class: 'banner conflict' }, `${path}: ${message}`)); return; }
    target.classList.add('invalid');
    const err = target.querySelector(':scope > .err');
    err.textContent = message;
    err.hidden = false;
  }
  function clearError(path) {
    const el = [...form.querySelectorAll('[data-path]')].find((x) => x.dataset.path === path);
    if (!el) return;
    el.classList.remove('invalid');
    const err = el.querySelector(':scope > .err');
    err.textContent = '';
    err.hidden = true;
  }

  // `_check` as you type: the field being edited, against the whole draft.
  let timer = null;
  form.addEventListener('input', (e) => {
    const field = e.target.closest('[data-path]');
    if (!field) return;
    const top = field.dataset.path.match(/^\$\.[^.[]+/)[0];
    clearTimeout(timer);
    timer = setTimeout(() => check(top), 200);
  });
  async function check(path) {
    let item;
    try { item = value(); } catch (e) { showError(path, e.message); return; }
    try {
      const { data } = await api('POST', `${collPath(coll)}/_check`, { body: { item, path } });
      for (const el of form.querySelectorAll('[data-path]')) if (el.dataset.path.startsWith(path)) clearError(el.dataset.path);
      if (data.error) showError(data.path || path, data.error);
    } catch (e) { if (e.path) showError(e.path.replace(/^\$\.item/, '$'), e.message); }
  }

  async function save() {
    fill(banner);
    form.querySelectorAll('.invalid').forEach((el) => clearError(el.dataset.path));
    let body;
    try { body = value(); } catch (e) { fill(banner, h('div', { class: 'banner conflict' }, e.message)); return; }
    try {
      if (isNew) {
        const { data } = await api('POST', collPath(coll), { body });
        navigate(`${encodeURIComponent(coll)}/${encodeURIComponent(data._id)}`, { replace: true });
        return;
      }
      const r = await api('PUT', docPath(coll, id), { body, ifMatch: etag });
      etag = r.etag;
      fill(banner, h('div', { class: 'banner saved', id: 'saved' }, `Saved at ${new Date().toLocaleTimeString()}.`));
    } catch (e) {
      if (e.status === 412) {
        fill(banner, h('div', { class: 'banner conflict', id: 'conflict' },
          'Someone else changed this document since you opened it; nothing was overwritten. ',
          h('button', { type: 'button', class: 'ghost', onclick: () => docView(root, coll, id) }, 'Reload their version')));
      } else if (e.path) showError(e.path, e.message);
      else fill(banner, h('div', { class: 'banner conflict' }, e.message));
    }
  }

  async function remove() {
    let plan;
    try { ({ data: plan } = await api('DELETE', docPath(coll, id), { query: '_dry_run=1' })); } catch (e) {
      fill(banner, h('div', { class: 'banner conflict' }, e.message));
      return;
    }
    const item = (d) => h('li', {}, link(`${encodeURIComponent(d.coll)}/${encodeURIComponent(d._id)}`, `${d.coll}/${d._id}`), d.field ? ` (${d.field})` : '');
    const deleted = plan.details || plan.deleted.map((x) => ({ coll, _id: x }));
    const parts = [h('h2', {}, `Delete ${coll}/${id}?`)];
    if (!plan.allowed) {
      parts.push(h('p', { class: 'bad', id: 'delete-blocked' }, 'This delete is refused: these documents still reference it (must_be_empty) or hold it in a required reference.'),
        h('ul', {}, [...plan.blocked_by, ...plan.required].map(item)));
    } else {
      parts.push(h('p', { id: 'delete-plan' }, `${fmt(deleted.length)} document${deleted.length === 1 ? '' : 's'} will be deleted${deleted.length > 1 ? ' (cascade)' : ''}${plan.unlinked.length ? `, ${fmt(plan.unlinked.length)} unlinked` : ''}:`),
        h('ul', { id: 'delete-list' }, deleted.map(item)),
        plan.unlinked.length ? [h('p', {}, 'Unlinked (their reference is removed):'), h('ul', {}, plan.unlinked.map(item))] : null);
    }
    parts.push(h('div', { class: 'row' },
      plan.allowed ? h('button', { type: 'button', class: 'danger', id: 'confirm-delete', onclick: () => closeModal('yes') }, `Delete ${fmt(deleted.length)}`) : null,
      h('button', { type: 'button', class: 'ghost', id: 'cancel-delete', onclick: () => closeModal('no') }, 'Cancel')));
    if ((await modal(h('div', {}, parts))) !== 'yes') return;
    try {
      await api('DELETE', docPath(coll, id), { ifMatch: etag });
      navigate(encodeURIComponent(coll), { replace: true });
    } catch (e) {
      fill(banner, h('div', { class: 'banner conflict', id: e.status === 412 ? 'conflict' : null }, e.message));
    }
  }
  return null;
}

/** A reverse list: its count, a link to the documents in their table, the first ids. */
function reverseList(spec, ids, id) {
  const filter = reverseFilter(spec, id);
  const target = encodeURIComponent(spec.collection);
  return h('div', { class: 'field reverse', 'data-reverse': spec.path },
    h('div', {}, filter ? link(`${target}?${encodeQuery(filter)}`, `${fmt(ids.length)} ${spec.collection}`) : `${fmt(ids.length)} ${spec.collection}`),
    h('div', {}, ids.slice(0, 20).map((x) => link(`${target}/${encodeURIComponent(x)}`, x)), ids.length > 20 ? '…' : null));
}

let uid = 0;

/**
 * An editor for one value of type `spec`: {el, get(), readOnly}. `get`
 * throws with a message when the input cannot be a value (bad JSON).
 */
function editor(spec, value, readOnly) {
  const wrap = h('div', { class: 'field', 'data-path': spec.path });
  const err = h('div', { class: 'err', hidden: true });
  const hint = spec.description ? h('div', { class: 'hint' }, spec.description) : null;
  const id = `f${++uid}`;
  let get;
  let input = null;
  switch (spec.type) {
    case 'dict': {
      const subs = Object.entries(spec.sub_scheme || {}).map(([n, s]) => [n, editor({ ...s, rights: spec.rights }, value ? value[n] ?? null : null, readOnly)]);
      const set = h('fieldset', {}, subs.map(([n, ed]) => [h('span', { class: 'field-label' }, n, s(ed.spec)), ed.el]));
      wrap.append(set);
      get = () => {
        const out = Object.fromEntries(subs.map(([n, ed]) => [n, ed.get()]));
        return value === null && Object.values(out).every((v) => v === null) ? null : out;
      };
      break;
    }
    case 'list':
    case 'refs': {
      const itemSpec = spec.type === 'refs' ? { type: 'ref', collection: spec.collection, path: `${spec.path}[*]` } : spec.sub_type;
      const items = h('div', { class: 'list' });
      const eds = [];
      const add = (v) => {
        const i = eds.length;
        const ed = editor({ ...itemSpec, path: `${spec.path}[${i}]`, rights: spec.rights }, v, readOnly);
        const row = h('div', { class: 'list-item' }, ed.el, readOnly ? null : h('button', {
          type: 'button', class: 'ghost', title: 'remove', onclick: () => { eds.splice(eds.indexOf(ed), 1); row.remove(); renumber(); },
        }, '×'));
        eds.push(ed);
        items.append(row);
      };
      const renumber = () => eds.forEach((ed, i) => { ed.el.dataset.path = `${spec.path}[${i}]`; });
      (value || []).forEach(add);
      wrap.append(items, readOnly ? null : h('button', { type: 'button', class: 'ghost add', onclick: () => add(null) }, '+ add'));
      get = () => (value === null && eds.length === 0 ? null : eds.map((ed) => ed.get()));
      break;
    }
    case 'bool': {
      input = h('select', { id, disabled: readOnly },
        h('option', { value: '' }, '—'), h('option', { value: 'true', selected: value === true }, 'true'), h('option', { value: 'false', selected: value === false }, 'false'));
      wrap.append(input);
      get = () => (input.value === '' ? null : input.value === 'true');
      break;
    }
    case 'any': {
      input = h('textarea', { id, rows: '3', readOnly, value: value === null ? '' : JSON.stringify(value, null, 1) });
      wrap.append(input);
      get = () => {
        if (input.value.trim() === '') return null;
        try { return JSON.parse(input.value); } catch { throw new Error(`${wrap.dataset.path}: not JSON`); }
      };
      break;
    }
    case 'ref': {
      input = h('input', { type: 'text', id, readOnly, value: value ?? '', class: 'mono', placeholder: `${spec.collection} id` });
      const open = link(`${encodeURIComponent(spec.collection)}/${encodeURIComponent(value ?? '')}`, 'open');
      open.hidden = !value;
      input.addEventListener('input', () => {
        open.href = `/_admin/${encodeURIComponent(spec.collection)}/${encodeURIComponent(input.value)}`;
        open.hidden = !input.value;
      });
      wrap.append(h('div', { class: 'ref' }, input, open, readOnly ? null : h('button', {
        type: 'button', class: 'ghost pick', onclick: async () => {
          const picked = await pick(spec.collection);
          if (picked !== null) { input.value = picked; input.dispatchEvent(new Event('input', { bubbles: true })); }
        },
      }, 'Pick…')));
      get = () => (input.value.trim() === '' ? null : input.value.trim());
      break;
    }
    default: {
      if (spec.union && spec.union.length) {
        input = h('select', { id, disabled: readOnly }, h('option', { value: '' }, '—'),
          spec.union.map((v) => h('option', { value: JSON.stringify(v), selected: v === value }, String(v))));
        get = () => (input.value === '' ? null : JSON.parse(input.value));
      } else {
        const numeric = spec.type === 'int' || spec.type === 'float';
        input = h('input', {
          type: 'text', id, readOnly, value: value === null || value === undefined ? '' : String(value),
          inputmode: numeric ? 'decimal' : null, placeholder: spec.type === 'datetime' ? '2026-01-31T12:00:00Z' : null,
        });
        get = () => parseTyped(spec, input.value);
      }
      wrap.append(input);
    }
  }
  wrap.append(err);
  if (hint) wrap.append(hint);
  return { el: wrap, get, readOnly, spec, input };
}

const s = (spec) => (spec && spec.required ? h('span', { class: 'req' }, ' *') : null);

/** A dialog to find a document of `coll` by its label field or id; resolves to its id or null. */
async function pick(coll) {
  const label = labelField(coll);
  const box = h('input', { type: 'search', id: 'pick-query', placeholder: `search ${label || '_id'}`, autocomplete: 'off' });
  const list = h('ul', { class: 'picker-results', id: 'pick-results' });
  let chosen = null;
  const search = async () => {
    const text = box.value.trim();
    const q = [['_page', '20']];
    if (label) q.push(['_fields', label]);
    if (text) q.push([`${label || '_id'}.$re`, `(?i)${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`]);
    try {
      const { data } = await api('GET', collPath(coll), { query: encodeQuery(q) });
      fill(list, ...data.result.map((d) => h('li', {
        'data-id': d._id, tabindex: '0',
        onclick: () => { chosen = d._id; closeModal('picked'); },
        onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); chosen = d._id; closeModal('picked'); } },
      }, h('span', { class: 'mono' }, d._id), label && d[label] ? ` — ${d[label]}` : '')),
      data.total > data.result.length ? h('li', { class: 'muted' }, `… ${fmt(data.total - data.result.length)} more: refine the search`) : '');
    } catch (e) { fill(list, h('li', { class: 'bad' }, e.message)); }
  };
  let t = null;
  box.addEventListener('input', () => { clearTimeout(t); t = setTimeout(search, 150); });
  const done = modal(h('div', {}, h('h2', {}, `Pick a document of ${coll}`), box, list,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'ghost', onclick: () => closeModal('') }, 'Cancel'))));
  box.focus();
  search();
  await done;
  return chosen;
}
