// Work on many documents at once, through `_batch` (one transaction):
// a field change or a delete applied to every document the query matches,
// NDJSON/CSV import with a dry run and a per-line report, and export of
// the query's documents. Every change is rehearsed first with
// `_batch?_dry_run=1`, which runs all the checks and on-delete rules and
// then undoes them.

import { api, collect } from './api.js';
import { h, fill, fmt } from './ui.js';
import { collection, fields, canModify, isDerived, fieldSpec } from './schema.js';

/** At most this many operations go in one `_batch` (the server's default cap). */
const MAX_OPS = 10000;

export function toolbar(coll, filters, reload) {
  const rights = collection(coll).rights;
  const panel = h('div', { id: 'panel' });
  const show = (content) => fill(panel, content ? h('section', { class: 'panel' }, content) : '');
  const button = (id, label, right, fn) => h('button', {
    type: 'button', class: 'ghost', id, disabled: right === false, onclick: fn,
  }, label);
  const buttons = h('span', { class: 'row' },
    h('a', { class: 'button', id: 'new', href: `/_admin/${encodeURIComponent(coll)}/_new`, 'data-nav': '', hidden: rights.create === false }, 'New'),
    button('bulk-update', 'Bulk change', rights.modify, () => show(bulkUpdate(coll, filters, reload, show))),
    button('bulk-delete', 'Bulk delete', rights.delete, () => show(bulkDelete(coll, filters, reload, show))),
    button('import', 'Import', rights.create, () => show(importer(coll, reload))),
    button('export', 'Export', rights.read, () => show(exporter(coll, filters))));
  return { buttons, panel };
}

/** Runs `ops` as one `_batch`, for real or as a dry run. */
const batch = (ops, dry) => api('POST', '/_batch', { body: { ops }, query: dry ? '_dry_run=1' : undefined });

/** The op index and the rest of an error path `$.ops[3].doc.age`. */
function opError(e) {
  const m = /^\$\.ops\[(\d+)\](?:\.doc)?(.*)$/.exec(e.path || '');
  return m ? { index: +m[1], path: `$${m[2]}` } : null;
}

/** A value typed into a box, read by the field's type. */
export function parseTyped(spec, text) {
  const t = text.trim();
  if (t === '' || t === 'null') return null;
  switch (spec.type) {
    case 'int': case 'float': return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t) ? Number(t) : text;
    case 'bool': return t === 'true' ? true : t === 'false' ? false : text;
    case 'list': case 'dict': case 'any': case 'refs':
      try { return JSON.parse(t); } catch { throw new Error(`${spec.path}: not JSON`); }
    default: return text;
  }
}

function bulkUpdate(coll, filters, reload, show) {
  const choices = fields(coll).filter(([, s]) => canModify(s));
  const field = h('select', { id: 'bulk-field' }, choices.map(([n]) => h('option', { value: n }, n)));
  const value = h('input', { type: 'text', id: 'bulk-value', placeholder: 'new value (JSON for lists and dicts; empty for null)' });
  const out = h('div', { id: 'bulk-report' });
  const apply = h('button', { type: 'button', id: 'bulk-apply', disabled: true }, 'Apply');
  let ops = [];
  const preview = async () => {
    apply.disabled = true;
    fill(out, h('p', { class: 'muted' }, 'Rehearsing…'));
    try {
      const spec = fieldSpec(coll, field.value);
      const v = parseTyped(spec, value.value);
      const docs = await collect(coll, filters, { fields: '_id', limit: MAX_OPS });
      ops = docs.map((d) => ({ op: 'update', coll, id: d._id, doc: { [field.value]: v } }));
      await batch(ops, true);
      fill(out, h('p', { id: 'bulk-preview' }, `${fmt(ops.length)} documents match; setting ${field.value} = ${JSON.stringify(v)} on all of them checks out (dry run).`));
      apply.textContent = `Apply to ${fmt(ops.length)} documents`;
      apply.disabled = ops.length === 0;
    } catch (e) { fill(out, failure(e, ops)); }
  };
  apply.onclick = () => run(out, apply, ops, reload, (n) => `Updated ${fmt(n)} documents in one transaction.`);
  return h('div', {},
    h('h2', {}, 'Change a field on every matching document'),
    h('p', { class: 'muted' }, filters.length ? `Query: ${filters.map(([k, v]) => `${k}=${v}`).join('&')}` : 'No query: every document of the collection.'),
    h('div', { class: 'row' }, field, value,
      h('button', { type: 'button', id: 'bulk-check', onclick: preview }, 'Preview'), apply,
      h('button', { type: 'button', class: 'ghost', onclick: () => show(null) }, 'Close')),
    out);
}

function bulkDelete(coll, filters, reload, show) {
  const out = h('div', { id: 'bulk-report' });
  const apply = h('button', { type: 'button', class: 'danger', id: 'bulk-apply', disabled: true }, 'Delete');
  let ops = [];
  const preview = async () => {
    try {
      const docs = await collect(coll, filters, { fields: '_id', limit: MAX_OPS });
      ops = docs.map((d) => ({ op: 'delete', coll, id: d._id }));
      const { data } = await batch(ops, true);
      const all = data.results.flatMap((r) => r.details || (r.deleted || []).map((id) => ({ coll, _id: id })));
      const others = all.filter((d) => d.coll !== coll);
      fill(out, h('p', { id: 'bulk-preview' },
        `${fmt(ops.length)} documents match; deleting them removes ${fmt(all.length)} documents in all`,
        others.length ? ` (${fmt(others.length)} more by cascade)` : '', ' (dry run).'));
      apply.textContent = `Delete ${fmt(all.length)} documents`;
      apply.disabled = ops.length === 0;
    } catch (e) { fill(out, failure(e, ops)); }
  };
  apply.onclick = () => run(out, apply, ops, reload, (n) => `Deleted ${fmt(n)} documents (and what they cascade to) in one transaction.`);
  preview();
  return h('div', {},
    h('h2', {}, 'Delete every matching document'),
    h('p', { class: 'muted' }, filters.length ? `Query: ${filters.map(([k, v]) => `${k}=${v}`).join('&')}` : 'No query: every document of the collection.'),
    out, h('div', { class: 'row' }, apply, h('button', { type: 'button', class: 'ghost', onclick: () => show(null) }, 'Close')));
}

/**
 * Runs the rehearsed `ops` for real: the documents the preview found (a
 * document changed or deleted since fails the batch, naming it).
 */
async function run(out, apply, ops, reload, done) {
  apply.disabled = true;
  try {
    const { data } = await batch(ops, false);
    fill(out, h('p', { class: 'ok', id: 'bulk-done' }, done(data.results.length)));
    reload();
  } catch (e) { fill(out, failure(e, ops)); }
}

/** An error of a batch, naming the document it is about. */
function failure(e, ops) {
  const at = opError(e);
  const op = at && ops[at.index];
  const who = op ? `document ${op.id || op.doc?._id || `#${at.index + 1}`}: ` : '';
  return h('div', { class: 'error-box', id: 'bulk-error' }, `${who}${e.message}${at && at.path !== '$' ? ` (at ${at.path})` : ''}`);
}

// ---- import ----

/** Lines of NDJSON or CSV as {line, doc} or {line, error}. */
export function parseRecords(coll, text, format) {
  if (format === 'csv') return parseCsv(coll, text);
  return text.split('\n').map((l, i) => ({ line: i + 1, text: l.trim() })).filter((l) => l.text).map(({ line, text: t }) => {
    try {
      const doc = JSON.parse(t);
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { line, error: 'not a JSON object' };
      return { line, doc };
    } catch (e) { return { line, error: `not JSON: ${e.message}` }; }
  });
}

function csvRows(text) {
  const rows = [];
  let row = [], cellText = '', quoted = false, line = 1, start = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cellText += '"'; i++; }
      else if (c === '"') quoted = false;
      else { if (c === '\n') line++; cellText += c; }
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cellText); cellText = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cellText); cellText = '';
      if (row.some((x) => x !== '')) rows.push({ line: start, cells: row });
      row = []; line++; start = line;
    } else cellText += c;
  }
  row.push(cellText);
  if (row.some((x) => x !== '')) rows.push({ line: start, cells: row });
  return rows;
}

function parseCsv(coll, text) {
  const rows = csvRows(text);
  if (!rows.length) return [];
  const header = rows[0].cells.map((c) => c.trim());
  return rows.slice(1).map(({ line, cells }) => {
    const doc = {};
    try {
      header.forEach((name, i) => {
        const raw = cells[i] ?? '';
        if (raw === '') return;
        const spec = name === '_id' ? { type: 'string', path: '$._id' } : fieldSpec(coll, name);
        doc[name] = spec ? parseTyped(spec, raw) : raw;
      });
    } catch (e) { return { line, error: e.message }; }
    return { line, doc };
  });
}

function importer(coll, reload) {
  const text = h('textarea', { id: 'import-text', rows: '6', placeholder: '{"name": "Ada"}  (one JSON document per line, or CSV with a header row)' });
  const file = h('input', { type: 'file', id: 'import-file', accept: '.ndjson,.jsonl,.json,.csv,text/csv' });
  const format = h('select', { id: 'import-format' }, h('option', { value: 'ndjson' }, 'NDJSON'), h('option', { value: 'csv' }, 'CSV'));
  const report = h('div', { id: 'import-report' });
  const go = h('button', { type: 'button', id: 'import-run', disabled: true }, 'Import');
  file.onchange = async () => {
    const f = file.files[0];
    if (!f) return;
    text.value = await f.text();
    format.value = /\.csv$/i.test(f.name) ? 'csv' : 'ndjson';
  };
  let good = [];
  const check = async () => {
    go.disabled = true;
    fill(report, h('p', { class: 'muted' }, 'Checking…'));
    const records = parseRecords(coll, text.value, format.value);
    const errors = records.filter((r) => r.error);
    good = records.filter((r) => r.doc);
    // Rehearse; each failure names one op: report it, leave it out, go on.
    try {
      for (;;) {
        if (!good.length) break;
        if (good.length > MAX_OPS) throw new Error(`${fmt(good.length)} documents: at most ${fmt(MAX_OPS)} per import`);
        try {
          await batch(good.map((r) => ({ op: 'create', coll, doc: r.doc })), true);
          break;
        } catch (e) {
          const at = opError(e);
          if (!at || !good[at.index]) throw e;
          const where = at.path !== '$' && !e.message.includes(at.path) ? `${at.path}: ` : '';
          errors.push({ line: good[at.index].line, error: `${where}${e.message}` });
          good.splice(at.index, 1);
        }
      }
    } catch (e) {
      fill(report, h('div', { class: 'error-box' }, e.message));
      return;
    }
    errors.sort((a, b) => a.line - b.line);
    fill(report,
      h('p', { id: 'import-summary' }, `${fmt(good.length)} documents ready, ${fmt(errors.length)} lines with errors (dry run: nothing written).`),
      errors.length ? h('ul', { class: 'report', id: 'import-errors' }, errors.map((e) => h('li', { 'data-line': String(e.line) }, `line ${e.line}: ${e.error}`))) : null);
    go.textContent = `Import ${fmt(good.length)} documents`;
    go.disabled = good.length === 0;
  };
  go.onclick = async () => {
    go.disabled = true;
    try {
      const { data } = await batch(good.map((r) => ({ op: 'create', coll, doc: r.doc })), false);
      report.prepend(h('p', { class: 'ok', id: 'import-done' }, `Imported ${fmt(data.results.length)} documents in one transaction.`));
      reload();
    } catch (e) { report.prepend(h('div', { class: 'error-box' }, e.message)); }
  };
  return h('div', {},
    h('h2', {}, `Import into ${coll}`),
    h('div', { class: 'row' }, file, format),
    text,
    h('div', { class: 'row' }, h('button', { type: 'button', id: 'import-check', onclick: check }, 'Check (dry run)'), go),
    report);
}

// ---- export ----

const csvCell = (v) => {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

function exporter(coll, filters) {
  const out = h('div', { id: 'export-report' });
  const run = async (format) => {
    fill(out, h('p', { class: 'muted' }, 'Reading…'));
    try {
      // What imports back: no `_meta`, no reverse lists the engine keeps.
      const names = ['_id', ...fields(coll).filter(([, s]) => !isDerived(s)).map(([n]) => n)];
      const docs = await collect(coll, filters);
      const strip = (d) => Object.fromEntries(names.filter((n) => n in d).map((n) => [n, d[n]]));
      const text = format === 'csv'
        ? [names.join(','), ...docs.map((d) => names.map((n) => csvCell(d[n])).join(','))].join('\n') + '\n'
        : docs.map((d) => JSON.stringify(strip(d))).join('\n') + (docs.length ? '\n' : '');
      const blob = new Blob([text], { type: format === 'csv' ? 'text/csv' : 'application/x-ndjson' });
      const name = `${coll}.${format === 'csv' ? 'csv' : 'ndjson'}`;
      const a = h('a', { href: URL.createObjectURL(blob), download: name, id: 'export-link', 'data-count': String(docs.length) }, `Download ${name} (${fmt(docs.length)} documents)`);
      fill(out, a);
      a.click();
    } catch (e) { fill(out, h('div', { class: 'error-box' }, e.message)); }
  };
  return h('div', {},
    h('h2', {}, `Export ${filters.length ? 'the matching documents' : `all of ${coll}`}`),
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'export-ndjson', onclick: () => run('ndjson') }, 'NDJSON'),
      h('button', { type: 'button', id: 'export-csv', onclick: () => run('csv') }, 'CSV')),
    out);
}
