// The app's schema as `GET /<app>/_meta` tells it to this caller: the
// collections, their fields with types and options, and the caller's
// rights on each.

import { api } from './api.js';

let colls = new Map();

/** Loads `_meta` (again: after signing in, rights change). */
export async function loadMeta() {
  const { data } = await api('GET', '/_meta');
  colls = new Map(data.collections.map((c) => [c.name, {
    name: c.name,
    rights: c.rights || c.item.rights || {},
    item: c.item,
    selections: c.selections || [],
    actions: c.actions || [],
  }]));
  return colls;
}

export const collections = () => [...colls.values()];
export const collection = (name) => colls.get(name) || null;

/** The top-level fields of a collection (without `_id` and `_meta`), as [name, spec]. */
export function fields(coll) {
  const c = typeof coll === 'string' ? collection(coll) : coll;
  if (!c) return [];
  return Object.entries(c.item.sub_scheme || {})
    .filter(([n, spec]) => n !== '_id' && n !== '_meta' && spec.rights?.read !== false);
}

export const fieldSpec = (coll, name) => collection(coll)?.item.sub_scheme?.[name] || null;

/** A reverse list the engine maintains: shown, never edited. */
export const isDerived = (spec) => spec.derived === true;

export const canModify = (spec) => spec.rights?.modify !== false && !isDerived(spec);

/**
 * The filter on the other collection that lists the documents a
 * reference field of `coll` points back from: `addr=home` for a reverse
 * list of a `ref`, `tags.$contains=x` for one of a `refs`.
 */
export function reverseFilter(spec, id) {
  const field = (spec.reverse || '').replace(/^\$\./, '');
  if (!field) return null;
  const other = fieldSpec(spec.collection, field);
  const key = other && other.type === 'refs' ? `${field}.$contains` : field;
  return [[key, id]];
}

/** The field a picker searches and shows beside ids. */
export function labelField(coll) {
  const fs = fields(coll);
  const pick = fs.find(([, s]) => s.search && s.type === 'string') || fs.find(([, s]) => s.type === 'string' && s.index)
    || fs.find(([, s]) => s.type === 'string');
  return pick ? pick[0] : null;
}

/** What a field is, in one line: `ref → addrs (reverse users, on delete cascade)`. */
export function describe(spec) {
  let s = spec.type;
  if (spec.type === 'list' && spec.sub_type) s = `list of ${spec.sub_type.type}`;
  if (spec.type === 'ref' || spec.type === 'refs') {
    s += ` → ${spec.collection}`;
    const parts = [];
    if (spec.reverse) parts.push(`reverse ${spec.reverse.replace(/^\$\./, '')}`);
    if (spec.on_delete) parts.push(`on delete ${spec.on_delete}`);
    if (spec.derived) parts.push('maintained');
    if (parts.length) s += ` (${parts.join(', ')})`;
  }
  return s;
}

/** The options worth showing: required, in, min/max, regexp, default. */
export function options(spec) {
  const out = [];
  if (spec.required) out.push('required');
  if (spec.union) out.push(`in ${JSON.stringify(spec.union)}`);
  if (spec.min !== undefined && spec.min !== null) out.push(`min ${spec.min}`);
  if (spec.max !== undefined && spec.max !== null) out.push(`max ${spec.max}`);
  if (spec.regexp) out.push(`regexp ${spec.regexp}`);
  if (spec.default !== null && spec.default !== undefined) out.push(`default ${JSON.stringify(spec.default)}`);
  if (spec.views && spec.views.length) out.push(`views ${spec.views.join(',')}`);
  return out;
}
