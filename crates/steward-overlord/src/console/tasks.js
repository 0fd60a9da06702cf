// The Tasks page: every task, filtered, sorted and paged by the Overlord
// (`GET /druid/indexer/v1/steward/tasks`), with counts by state and shut-down buttons. The
// filters live in the URL (`#/tasks?state=running&datasource=wiki`), so a view can be
// bookmarked and the back button works; pages are followed with the cursors the Overlord
// hands out, kept on a stack for "Previous".

import {
  api, h, replace, table, errorBox, shutdownTask, shutdownAllTasks, every, enc, V1,
  fmtTime, fmtDuration, location_, stateCell,
} from './ui.js';

const STATES = ['running', 'pending', 'waiting', 'complete'];
const SORTS = [['created', 'Created'], ['id', 'Id'], ['datasource', 'Datasource'], ['type', 'Type']];
const LIMITS = ['25', '50', '100', '500', '1000'];
const REFRESH_MS = 5000;

export async function renderTasks(main, { params, signal }) {
  const f = {
    state: params.get('state') || '',
    datasource: params.get('datasource') || '',
    type: params.get('type') || '',
    id: params.get('id') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
    sort: params.get('sort') || 'created',
    order: params.get('order') || 'desc',
    limit: params.get('limit') || '50',
  };
  const cursors = [null];
  const countsEl = h('ul', { class: 'counts', id: 'task-counts', 'aria-label': 'Tasks by state' });
  const listEl = h('div', { id: 'tasks-list' });
  const pageEl = h('span', { id: 'tasks-page' });
  const prev = h('button', { type: 'button', id: 'tasks-prev', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', id: 'tasks-next', disabled: true }, 'Next →');
  const auto = h('input', { type: 'checkbox', id: 'tasks-auto', checked: true });
  const message = h('div', { id: 'tasks-message', 'aria-live': 'polite' });
  let next_cursor = null;

  const field = (name, label, attrs = {}) =>
    h('label', {}, label, h('input', { name, value: f[name], ...attrs }));
  const select = (name, label, options) =>
    h('label', {}, label, h('select', { name },
      options.map(([v, text]) => h('option', { value: v, selected: f[name] === v }, text))));
  const form = h('form', { class: 'filters', id: 'tasks-filters', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    const target = `#/tasks?${q}`;
    if (location.hash === target) load();
    else location.hash = target;
  } },
  select('state', 'State', [['', 'All'], ...STATES.map((s) => [s, s])]),
  field('datasource', 'Datasource', { id: 'filter-datasource', size: 14 }),
  field('type', 'Type', { id: 'filter-type', size: 10 }),
  field('id', 'Id contains', { id: 'filter-id', size: 14 }),
  field('from', 'Created from', { id: 'filter-from', placeholder: '2026-01-01', size: 12 }),
  field('to', 'Created before', { id: 'filter-to', placeholder: '2026-02-01T12:00', size: 12 }),
  select('sort', 'Sort by', SORTS),
  select('order', 'Order', [['desc', 'Descending'], ['asc', 'Ascending']]),
  select('limit', 'Per page', LIMITS.map((l) => [l, l])),
  h('button', { type: 'submit', class: 'primary', id: 'tasks-apply' }, 'Apply'));

  function query() {
    const q = new URLSearchParams();
    if (f.state) q.set('state', f.state);
    for (const k of ['datasource', 'type', 'id']) if (f[k]) q.set(k, f[k]);
    if (f.from || f.to) q.set('createdTimeInterval', `${f.from || '1970-01-01'}/${f.to || '3000-01-01'}`);
    q.set('sort', f.sort);
    q.set('order', f.order);
    q.set('limit', f.limit);
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.set('after', cursor);
    return q;
  }

  // Only the latest request's answer is shown: a refresh under way when "Next" is clicked
  // must not paint the old page over the new one.
  let loads = 0;
  async function load() {
    const seq = ++loads;
    let page;
    try {
      page = await api(`${V1}/steward/tasks?${query()}`);
    } catch (e) {
      if (seq === loads) replace(listEl, errorBox(e, 'tasks-error'));
      return;
    }
    if (signal.aborted || seq !== loads) return;
    showCounts(page.counts || {});
    next_cursor = page.next || null;
    const n = cursors.length;
    const first = (n - 1) * Number(f.limit);
    replace(pageEl, `Page ${n} · `, h('span', { id: 'tasks-range' },
      page.tasks.length ? `${first + 1}–${first + page.tasks.length}` : '0'),
    ' of ', h('span', { id: 'tasks-total' }, String(page.total)));
    prev.disabled = n <= 1;
    next.disabled = !next_cursor;
    replace(listEl, page.tasks.length === 0
      ? h('p', { class: 'muted', id: 'tasks-empty' }, 'No task matches these filters.')
      : table(['Id', 'Type', 'Datasource', { label: 'Created', attrs: { class: 'opt' } }, 'Status',
        { label: 'Duration', attrs: { class: 'opt num' } }, { label: 'Location', attrs: { class: 'opt' } }, ''],
      page.tasks.map(row), { id: 'tasks-table' }));
  }

  function row(t) {
    const active = t.statusCode === 'RUNNING';
    return h('tr', { dataset: { taskId: t.id } },
      h('td', { class: 'id' }, h('a', { href: `#/task/${enc(t.id)}` }, t.id)),
      h('td', {}, t.type),
      h('td', {}, h('a', { href: `#/datasource/${enc(t.dataSource)}` }, t.dataSource)),
      h('td', { class: 'opt' }, fmtTime(t.createdTime)),
      h('td', {}, stateCell(t)),
      h('td', { class: 'opt num' }, active ? '' : fmtDuration(t.duration)),
      h('td', { class: 'opt' }, location_(t.location)),
      h('td', {}, active ? h('button', {
        type: 'button', class: 'small danger', 'aria-label': `Shut down ${t.id}`,
        onclick: () => shutdown(t.id),
      }, 'Shut down') : ''));
  }

  function showCounts(counts) {
    replace(countsEl, STATES.map((s) => h('li', {}, h('button', {
      type: 'button', id: `count-${s}`, 'aria-pressed': String(f.state === s),
      title: `Show ${s} tasks`,
      onclick: () => { location.hash = `#/tasks?${new URLSearchParams({ state: s })}`; },
    }, s, h('b', {}, String(counts[s] ?? 0))))));
  }

  async function shutdown(id) {
    await shutdownTask(id, message);
    load();
  }

  async function shutdownAll() {
    await shutdownAllTasks(f.datasource, message);
    load();
  }

  prev.addEventListener('click', () => { cursors.pop(); load(); });
  next.addEventListener('click', () => { if (next_cursor) { cursors.push(next_cursor); load(); } });

  replace(main,
    h('h1', {}, 'Tasks'),
    countsEl,
    h('section', { class: 'panel' }, form,
      h('div', { class: 'row' },
        h('label', { class: 'inline' }, auto, 'Refresh every 5 s'),
        f.datasource ? h('button', { type: 'button', class: 'danger', id: 'shutdown-all', onclick: shutdownAll },
          `Shut down all tasks of ${f.datasource}`) : '')),
    message,
    listEl,
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageEl, next));
  // Loads now, then refreshes the page shown (same cursor) so that running tasks move on
  // without a click, except while a confirmation is open over it.
  let shown = false;
  every(REFRESH_MS, signal, async () => {
    if (!shown || (auto.checked && !document.getElementById('confirm').open)) {
      shown = true;
      await load();
    }
  });
}
