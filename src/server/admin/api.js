// The page's only way to the database: the public HTTP API of this app,
// with the credentials the user typed in (kept for the browser tab only).

export const APP = document.querySelector('meta[name="refdb-app"]').content;

const TOKEN = 'refdb-admin-token';
export const token = () => sessionStorage.getItem(TOKEN) || '';
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN, t);
  else sessionStorage.removeItem(TOKEN);
}

/** An error answer of the API (docs/API.md §7): status, code, `$.path`. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || (typeof body === 'string' && body) || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || null;
    this.path = e.path || null;
  }
}

/** Listeners told of every 401, so the page can ask for credentials. */
export const unauthorized = new EventTarget();

function headers(extra) {
  const h = { ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** `method` on `/<app><path>`; resolves to {data, etag}, rejects with ApiError. */
export async function api(method, path, { body, query, ifMatch } = {}) {
  const h = headers(body === undefined ? {} : { 'Content-Type': 'application/json' });
  if (ifMatch) h['If-Match'] = ifMatch;
  const url = `/${APP}${path}${query ? `?${query}` : ''}`;
  const resp = await fetch(url, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data);
    if (resp.status === 401) unauthorized.dispatchEvent(new Event('401'));
    throw err;
  }
  return { data, etag: resp.headers.get('ETag') };
}

export const collPath = (c) => `/coll/${encodeURIComponent(c)}`;
export const docPath = (c, id) => `${collPath(c)}/${encodeURIComponent(id)}`;

// Queries are kept as [key, value] pairs of the list language
// (`name.$re=(?i)do`), shown decoded and sent encoded.

/** Pairs from the text of the query box: `a=1&b.$re=x`. */
export function parseQuery(text) {
  return text.split('&').map((p) => p.trim()).filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
  });
}

/** The box's text for pairs. */
export const showQuery = (pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&');

// `$` and `,` stay readable in URLs; everything else is escaped, so a `+`
// typed in a pattern reaches the server as a plus, not a space.
const enc = (s) => encodeURIComponent(s).replace(/%24/g, '$').replace(/%2C/g, ',');
export const encodeQuery = (pairs) => pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');

/** Pairs from `location.search` (where `+` is a space, as the server reads it). */
export function decodeSearch(search) {
  const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
  return search.replace(/^\?/, '').split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [dec(p), ''] : [dec(p.slice(0, i)), dec(p.slice(i + 1))];
  });
}

/**
 * Every document matching `filters` in `_id` order (keyset paging), up to
 * `limit`; `fields` limits what each carries. Rejects when more match.
 */
export async function collect(coll, filters, { fields, limit = Infinity, sort } = {}) {
  const out = [];
  let after = null;
  let skip = 0;
  for (;;) {
    const q = [...filters, ['_page', '1000']];
    if (fields) q.push(['_fields', fields]);
    if (sort) q.push(['_sort', sort], ['_skip', String(skip)]);
    else if (after !== null) q.push(['_after', after]);
    const { data } = await api('GET', collPath(coll), { query: encodeQuery(q) });
    if (data.total > limit) {
      throw new Error(`${data.total.toLocaleString('en-US')} documents match; at most ${limit.toLocaleString('en-US')} at once: narrow the query`);
    }
    out.push(...data.result);
    if (data.result.length === 0 || out.length >= data.total) return out;
    after = data.result[data.result.length - 1]._id;
    skip += data.result.length;
  }
}

/**
 * Reads the change feed of `coll` from now on as server-sent events and
 * calls `onChange` per record, until `signal` aborts. Uses fetch rather
 * than EventSource, which cannot send credentials in a header.
 */
export async function follow(coll, signal, onChange) {
  const url = `/${APP}${collPath(coll)}/_changes?since=now&feed=sse`;
  const resp = await fetch(url, { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (!resp.ok || !resp.body) return false;
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (/^event: change$/m.test(event)) {
        const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        try { onChange(JSON.parse(data)); } catch { onChange(null); }
      }
    }
  }
}
