// The console's router: one page per hash route (`#/tasks`, `#/task/<id>`, `#/submit`,
// `#/services`, `#/datasources`, `#/datasource/<name>`), each rendered into <main> with an
// AbortSignal that stops its polling when another page is shown.

import { api, h, replace, errorBox, V1 } from './ui.js';
import { renderTasks } from './tasks.js';
import { renderTask } from './task.js';
import { renderSubmit } from './submit.js';
import { renderServices } from './services.js';
import { renderDatasources, renderDatasource } from './datasources.js';

const PAGES = {
  tasks: { section: 'tasks', render: renderTasks },
  task: { section: 'tasks', render: renderTask },
  submit: { section: 'submit', render: renderSubmit },
  services: { section: 'services', render: renderServices },
  datasources: { section: 'datasources', render: renderDatasources },
  datasource: { section: 'datasources', render: renderDatasource },
};

let current = null;

// `#/task/<id>?a=b` → {page: 'task', arg: '<id>', params}.
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = hash.split('?');
  const slash = path.indexOf('/');
  const page = slash < 0 ? path : path.slice(0, slash);
  const arg = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
  return { page: page || 'tasks', arg, params: new URLSearchParams(query) };
}

async function route() {
  const { page, arg, params } = parseHash();
  if (current) current.abort();
  current = new AbortController();
  const main = document.getElementById('main');
  const target = PAGES[page];
  for (const a of document.querySelectorAll('nav a[data-section]')) {
    if (target && a.dataset.section === target.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!target) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No console page here. ', h('a', { href: '#/tasks' }, 'Tasks')));
    return;
  }
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    await target.render(main, { arg, params, signal: current.signal });
  } catch (e) {
    replace(main, h('h1', {}, 'Error'), errorBox(e));
  }
  document.title = `${(main.querySelector('h1') || {}).textContent || 'Console'} · Steward`;
}

// A standby answers the task API with redirects to the leader, which a page cannot follow
// with its credentials: say where the leader's console is.
async function leaderBanner() {
  const banner = document.getElementById('banner');
  try {
    await api(`${V1}/isLeader`);
    banner.hidden = true;
  } catch (e) {
    if (e.status !== 404) return;
    let leader = '';
    try { leader = await api(`${V1}/leader`, { text: true }); } catch { leader = ''; }
    replace(banner, 'This Overlord is a standby: tasks and workers are managed on the leader',
      leader ? [' (', h('a', { href: `${leader}/` }, leader), ').'] : '.');
    banner.hidden = false;
  }
}

window.addEventListener('hashchange', route);
route();
leaderBanner();
