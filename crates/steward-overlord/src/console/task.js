// One task (`#/task/<id>`): its status, location and duration, error message, payload, the
// tail of its log and its reports. While the task is active the page polls them, so the log
// follows the running peon and the reports' row counts move live.

import {
  api, h, replace, errorBox, shutdownTask, every, enc, V1,
  fmtTime, fmtDuration, location_, stateCell, pretty,
} from './ui.js';

const POLL_MS = 2000;
// The log's tail: the last 64 KiB (Druid's `offset=-N`).
const TAIL_BYTES = 65536;

export async function renderTask(main, { arg: id, signal }) {
  const base = `${V1}/task/${enc(id)}`;
  const facts = h('div', { id: 'task-facts' });
  const actions = h('div', { class: 'row', id: 'task-actions' });
  const message = h('div', { 'aria-live': 'polite' });
  const payload = h('pre', { id: 'task-payload' }, '…');
  const log = h('pre', { class: 'log', id: 'task-log', tabindex: '0', 'aria-label': 'Task log' }, '');
  const logNote = h('p', { class: 'muted', id: 'task-log-note' });
  const follow = h('input', { type: 'checkbox', id: 'task-follow', checked: true });
  const reports = h('div', { id: 'task-reports' }, h('p', { class: 'muted' }, 'No reports yet.'));

  replace(main,
    h('p', {}, h('a', { href: '#/tasks' }, '← Tasks')),
    h('h1', { id: 'task-id' }, id),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'Status'), facts, actions),
    h('section', { class: 'panel' },
      h('h2', {}, 'Log'),
      h('div', { class: 'row' },
        h('label', { class: 'inline' }, follow, 'Follow the log while the task runs'),
        h('button', { type: 'button', id: 'task-log-refresh', onclick: () => loadLog() }, 'Reload log'),
        h('a', { href: `${base}/log`, target: '_blank', rel: 'noopener' }, 'Whole log')),
      logNote, log),
    h('section', { class: 'panel' }, h('h2', {}, 'Reports'), reports),
    h('section', { class: 'panel' }, h('details', {}, h('summary', {}, 'Payload'), payload)));

  let active = true;
  let logged = false;

  async function loadStatus() {
    const status = (await api(`${base}/status`)).status;
    active = status.statusCode === 'RUNNING';
    replace(facts, h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'task-status' }, stateCell(status)),
      h('dt', {}, 'Type'), h('dd', {}, status.type || ''),
      h('dt', {}, 'Datasource'), h('dd', {}, h('a', { href: `#/datasource/${enc(status.dataSource || '')}` }, status.dataSource || '')),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(status.createdTime)),
      h('dt', {}, 'Location'), h('dd', { id: 'task-location' }, location_(status.location) || '—'),
      h('dt', {}, 'Duration'), h('dd', { id: 'task-duration' }, active ? 'running' : fmtDuration(status.duration)),
      status.errorMsg ? [h('dt', {}, 'Error'), h('dd', { id: 'task-error', class: 'error' }, status.errorMsg)] : []));
    replace(actions, active ? h('button', {
      type: 'button', class: 'danger', id: 'task-shutdown', onclick: shutdown,
    }, 'Shut down') : '');
  }

  async function loadLog() {
    try {
      const text = await api(`${base}/log?offset=-${TAIL_BYTES}`, { text: true });
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = text;
      if (atBottom) log.scrollTop = log.scrollHeight;
      logNote.textContent = text.length >= TAIL_BYTES ? `The last ${TAIL_BYTES / 1024} KiB.` : '';
      logged = true;
    } catch (e) {
      if (e.status === 404) logNote.textContent = 'No log yet: the task has not started.';
      else logNote.textContent = e.message;
    }
  }

  async function loadReports() {
    try {
      const report = await api(`${base}/reports`);
      replace(reports, renderReports(report));
    } catch (e) {
      if (e.status !== 404) replace(reports, errorBox(e));
    }
  }

  async function shutdown() {
    await shutdownTask(id, message);
    await loadStatus();
  }

  await loadStatus();
  api(base).then((t) => { payload.textContent = pretty(t.payload); },
    (e) => { payload.textContent = e.message; });
  // Polls while the task is active, then once more for the final log and reports, and a few
  // times more while its log is not in the task-log store yet (the MiddleManager pushes it
  // just after the end).
  let triesAfterEnd = 0;
  every(POLL_MS, signal, async () => {
    const wasActive = active;
    await loadStatus();
    if (follow.checked || !logged || !active) await loadLog();
    await loadReports();
    return active || wasActive || (!logged && ++triesAfterEnd < 10);
  });
}

// Druid's reports: each report by name (`ingestionStatsAndErrors`, `killUnusedSegments`, ...),
// with row stats as a table and the rest as JSON.
function renderReports(report) {
  const out = [];
  for (const [name, value] of Object.entries(report || {})) {
    const payload = (value && value.payload) || value;
    const stats = payload && payload.rowStats;
    out.push(h('h3', {}, name));
    if (payload && payload.ingestionState) out.push(h('p', {}, 'Ingestion state: ', h('b', { id: 'report-state' }, payload.ingestionState)));
    if (stats && typeof stats === 'object') out.push(rowStatsTable(stats));
    out.push(h('details', {}, h('summary', {}, `${name} as JSON`), h('pre', {}, pretty(value))));
  }
  return out.length ? out : h('p', { class: 'muted' }, 'Empty report.');
}

function rowStatsTable(stats) {
  // Live reports nest the counters under `totals`; final reports put them at the top.
  const phases = stats.totals || stats;
  const counters = ['processed', 'processedBytes', 'processedWithError', 'thrownAway', 'unparseable'];
  const rows = Object.entries(phases).filter(([, c]) => c && typeof c === 'object').map(([phase, c]) =>
    h('tr', { dataset: { phase } }, h('th', { scope: 'row' }, phase), counters.map((k) => h('td', { class: 'num', dataset: { counter: k } }, c[k] ?? ''))));
  return h('div', { class: 'table-wrap' }, h('table', { id: 'row-stats' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Phase'), counters.map((k) => h('th', { class: 'num' }, k)))),
    h('tbody', {}, rows)));
}
