// The Services page: the Overlords (this one, the leader and its status), the MiddleManagers
// with their slots, running tasks and blacklisting, enabled or disabled from here, and the
// dynamic worker config with its audit history.

import {
  api, h, replace, table, errorBox, confirmAction, every, enc, V1,
  fmtTime, fmtBytes, pretty,
} from './ui.js';

const REFRESH_MS = 5000;

export async function renderServices(main, { signal }) {
  const overlords = h('div', { id: 'overlords' });
  const workers = h('div', { id: 'workers' });
  const message = h('div', { 'aria-live': 'polite', id: 'services-message' });
  const config = h('textarea', { id: 'worker-config', rows: 12, spellcheck: 'false' });
  const configMessage = h('div', { 'aria-live': 'polite', id: 'worker-config-message' });
  const history = h('div', { id: 'worker-history' });

  async function loadOverlords() {
    const [leader, isLeader, status] = await Promise.all([
      api(`${V1}/leader`, { text: true }).catch((e) => `unknown (${e.message})`),
      api(`${V1}/isLeader`).then(() => true, () => false),
      api('/status').catch(() => null),
    ]);
    const rows = [h('tr', {},
      h('td', {}, location.origin), h('td', { id: 'this-overlord-role' }, isLeader ? 'leader' : 'standby'),
      h('td', {}, status ? status.version : ''), h('td', { class: 'num' }, status ? fmtBytes(status.memory.rssBytes) : ''))];
    if (!isLeader) rows.push(h('tr', {}, h('td', {}, leader), h('td', {}, 'leader'), h('td', {}, ''), h('td', {}, '')));
    replace(overlords,
      h('p', {}, 'Leader: ', h('b', { id: 'leader' }, leader)),
      table(['Overlord', 'Role', 'Version', { label: 'Memory (RSS)', attrs: { class: 'num' } }], rows));
  }

  async function loadWorkers() {
    let list;
    try {
      list = await api(`${V1}/workers`);
    } catch (e) {
      replace(workers, errorBox(e));
      return;
    }
    if (signal.aborted) return;
    list.sort((a, b) => a.worker.host.localeCompare(b.worker.host));
    replace(workers, list.length === 0 ? h('p', { class: 'muted' }, 'No MiddleManager is announced.')
      : table(['Host', 'Enabled', 'Version', 'Category', { label: 'Capacity', attrs: { class: 'num' } },
        { label: 'Used slots', attrs: { class: 'num' } }, 'Running tasks',
        { label: 'Blacklisted until', attrs: { class: 'opt' } }, { label: 'Last completed', attrs: { class: 'opt' } }, ''],
      list.map(workerRow), { id: 'workers-table' }));
  }

  function workerRow(w) {
    const { host } = w.worker;
    const enabled = w.worker.version !== '';
    return h('tr', { dataset: { worker: host } },
      h('td', {}, host),
      h('td', { class: 'worker-enabled' }, enabled ? 'yes' : 'disabled'),
      h('td', {}, w.worker.version),
      h('td', {}, w.worker.category),
      h('td', { class: 'num' }, String(w.worker.capacity)),
      h('td', { class: 'num worker-used' }, String(w.currCapacityUsed)),
      h('td', { class: 'id' }, (w.runningTasks || []).map((id) => h('div', {}, h('a', { href: `#/task/${enc(id)}` }, id)))),
      h('td', { class: 'opt' }, w.blacklistedUntil ? fmtTime(w.blacklistedUntil) : ''),
      h('td', { class: 'opt' }, fmtTime(w.lastCompletedTaskTime)),
      h('td', {}, h('button', {
        type: 'button', class: enabled ? 'small danger' : 'small', 'aria-label': `${enabled ? 'Disable' : 'Enable'} ${host}`,
        onclick: () => toggle(host, enabled ? 'disable' : 'enable'),
      }, enabled ? 'Disable' : 'Enable')));
  }

  async function toggle(host, action) {
    if (action === 'disable' && !await confirmAction(`Disable ${host}?`,
      'It gets no new tasks; the tasks running there finish.', 'Disable')) return;
    try {
      await api(`${V1}/worker/${enc(host)}/${action}`, { method: 'POST' });
      replace(message, h('div', { class: 'success' }, `${host}: ${action}d.`));
    } catch (e) {
      replace(message, errorBox(e));
    }
    await loadWorkers();
  }

  async function loadConfig() {
    try {
      const current = await api(`${V1}/worker`, { text: true });
      config.value = current ? pretty(JSON.parse(current)) : '';
      config.placeholder = '{"type": "default", "selectStrategy": {"type": "equalDistribution"}}';
      replace(configMessage, current ? '' : h('p', { class: 'muted' }, 'Never set: Druid\'s default (equalDistribution) applies.'));
    } catch (e) {
      replace(configMessage, errorBox(e));
    }
  }

  async function saveConfig(e) {
    e.preventDefault();
    let value;
    try {
      value = JSON.parse(config.value);
    } catch (err) {
      replace(configMessage, errorBox(`Not JSON: ${err.message}`));
      return;
    }
    if (!await confirmAction('Change the worker config?', 'New tasks are assigned with it at once.', 'Save')) return;
    try {
      await api(`${V1}/worker`, { method: 'POST', json: value, headers: { 'X-Druid-Comment': 'changed in the web console' } });
      await Promise.all([loadConfig(), loadHistory()]);
      replace(configMessage, h('div', { class: 'success' }, 'Saved.'));
    } catch (err) {
      replace(configMessage, errorBox(err));
    }
  }

  async function loadHistory() {
    try {
      const entries = await api(`${V1}/worker/history?count=20`);
      replace(history, entries.length === 0 ? h('p', { class: 'muted' }, 'No change recorded.')
        : table(['When', 'Who', 'Comment', 'Config'], entries.map((a) => h('tr', {},
          h('td', {}, fmtTime(a.auditTime)),
          h('td', {}, [a.auditInfo.identity, a.auditInfo.author].filter(Boolean).join(' / '), a.auditInfo.ip ? ` (${a.auditInfo.ip})` : ''),
          h('td', {}, a.auditInfo.comment || ''),
          h('td', {}, h('details', {}, h('summary', {}, 'show'), h('pre', {}, prettyText(a.payload))))))));
    } catch (e) {
      replace(history, errorBox(e));
    }
  }

  replace(main,
    h('h1', {}, 'Services'),
    h('section', { class: 'panel' }, h('h2', {}, 'Overlords'), overlords),
    h('section', { class: 'panel' }, h('h2', {}, 'MiddleManagers'), message, workers),
    h('div', { class: 'grid2' },
      h('form', { class: 'panel', onsubmit: saveConfig },
        h('h2', {}, h('label', { for: 'worker-config' }, 'Dynamic worker config')),
        config, configMessage,
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'worker-config-save' }, 'Save'))),
      h('section', { class: 'panel' }, h('h2', {}, 'Worker config history'), history)));
  await Promise.all([loadOverlords(), loadConfig(), loadHistory()]);
  every(REFRESH_MS, signal, async () => {
    if (!document.getElementById('confirm').open) await loadWorkers();
  });
}

function prettyText(payload) {
  try { return pretty(typeof payload === 'string' ? JSON.parse(payload) : payload); } catch { return String(payload); }
}
