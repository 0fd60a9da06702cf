// What every page shares: calling the Overlord's API, building elements, confirmations,
// formatting, and polling that stops when the page is left.

const V1 = '/druid/indexer/v1';
const COORDINATOR = '/druid/coordinator/v1';
export { V1, COORDINATOR };

// An error answer of the API, in Druid's shapes: `{"error": ...}` or a DruidException body
// (`errorMessage`), possibly naming the `field` at fault.
export class ApiError extends Error {
  constructor(status, body, text) {
    const message = (body && (body.errorMessage || body.error)) || text || `HTTP ${status}`;
    super(typeof message === 'string' ? message : JSON.stringify(message));
    this.status = status;
    this.body = body;
  }
}

// Calls the API on this Overlord. Absolute URLs from `location.origin`: a page opened with
// `user:pass@` before its host has credentials in its own URL, which fetch refuses to resolve
// relative URLs against; the browser sends the credentials it logged in with either way.
export async function api(path, { method = 'GET', json, text = false, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (json !== undefined) {
    init.body = typeof json === 'string' ? json : JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(location.origin + path, init);
  const raw = await response.text();
  let body = null;
  if ((response.headers.get('Content-Type') || '').startsWith('application/json') && raw) {
    try { body = JSON.parse(raw); } catch { body = null; }
  }
  if (!response.ok) throw new ApiError(response.status, body, raw);
  return text ? raw : body;
}

export const enc = encodeURIComponent;

// `h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child)`.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function table(headers, rows, attrs = {}) {
  const head = h('tr', {}, headers.map((x) =>
    typeof x === 'string' ? h('th', { scope: 'col' }, x) : h('th', { scope: 'col', ...x.attrs }, x.label)));
  return h('div', { class: 'table-wrap' }, h('table', attrs, h('thead', {}, head), h('tbody', {}, rows)));
}

export function errorBox(e, id) {
  return h('div', { class: 'error', role: 'alert', id }, e instanceof Error ? e.message : String(e));
}

// Asks before anything destructive, in the page's own dialog (the browser's `confirm()` where
// `<dialog>` is missing).
export function confirmAction(title, text, okLabel) {
  const dialog = document.getElementById('confirm');
  if (!dialog || typeof dialog.showModal !== 'function') {
    return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  }
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

// Asks, then calls: `call()`'s answer is told in `message` with `done(answer)`, or its error.
// Returns whether the action was confirmed.
export async function confirmThenCall(message, [title, text, okLabel], call, done) {
  if (!await confirmAction(title, text, okLabel)) return false;
  try {
    replace(message, h('div', { class: 'success' }, done(await call())));
  } catch (e) {
    replace(message, errorBox(e));
  }
  return true;
}

// Shuts down task `id`, once confirmed.
export function shutdownTask(id, message) {
  return confirmThenCall(message, ['Shut down this task?', `Task ${id} will be stopped and end FAILED.`, 'Shut down'],
    () => api(`${V1}/task/${enc(id)}/shutdown`, { method: 'POST' }),
    () => `Shutdown of ${id} requested.`);
}

// Shuts down every active task of datasource `ds` (Druid's `shutdownAllTasks`), once confirmed.
export function shutdownAllTasks(ds, message) {
  return confirmThenCall(message, [`Shut down every task of ${ds}?`,
    `Every waiting, pending and running task of datasource ${ds} will be stopped.`, 'Shut down all'],
  () => api(`${V1}/datasources/${enc(ds)}/shutdownAllTasks`, { method: 'POST' }),
  () => `Shutdown of every task of ${ds} requested.`);
}

// Runs `fn` now and every `ms` until the page's `signal` aborts or `fn` returns false.
export function every(ms, signal, fn) {
  let timer = null;
  const tick = async () => {
    if (signal.aborted) return;
    let again = true;
    try { again = (await fn()) !== false; } catch { again = true; }
    if (again && !signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  tick();
}

export function fmtTime(iso) {
  if (!iso) return '';
  return String(iso).replace('T', ' ').replace(/\.000Z$|Z$/, '');
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function fmtNumber(n) {
  return n === undefined || n === null ? '' : Number(n).toLocaleString('en-US');
}

export function location_(loc) {
  if (!loc || !loc.host) return '';
  return `${loc.host}:${loc.tlsPort > 0 ? loc.tlsPort : loc.port}`;
}

export function stateCell(status) {
  const state = status.statusCode === 'RUNNING' ? status.runnerStatusCode : status.statusCode;
  return h('span', { class: `state state-${state}` }, state);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
