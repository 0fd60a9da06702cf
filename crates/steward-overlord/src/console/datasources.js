// The Datasources pages: every datasource with its segment counts, size, rows and time range
// (`GET /druid/indexer/v1/steward/datasources`), and one datasource (`#/datasource/<name>`):
// its intervals with their used and unused segments (grouped here from Druid's segment
// metadata API), marking a segment or an interval unused, killing an interval's unused
// segments (a `kill` task), its active task locks, and shutting down all of its tasks.

import {
  api, h, replace, table, errorBox, confirmThenCall, shutdownAllTasks, every, enc, V1, COORDINATOR,
  fmtTime, fmtBytes, fmtNumber,
} from './ui.js';

const REFRESH_MS = 5000;
// Java's Integer.MIN_VALUE: a lock filter of this priority admits every lock.
const ANY_PRIORITY = -2147483648;

export async function renderDatasources(main, { signal }) {
  const list = h('div', { id: 'datasources' });
  replace(main, h('h1', {}, 'Datasources'), list);
  every(REFRESH_MS, signal, async () => {
    let all;
    try {
      all = await api(`${V1}/steward/datasources`);
    } catch (e) {
      replace(list, errorBox(e));
      return;
    }
    if (signal.aborted) return;
    replace(list, all.length === 0 ? h('p', { class: 'muted' }, 'No datasource has segments yet.')
      : table(['Datasource', { label: 'Used segments', attrs: { class: 'num' } }, { label: 'Unused', attrs: { class: 'num' } },
        { label: 'Size', attrs: { class: 'num' } }, { label: 'Rows', attrs: { class: 'num opt' } },
        { label: 'From', attrs: { class: 'opt' } }, { label: 'To', attrs: { class: 'opt' } }, { label: 'Intervals', attrs: { class: 'num opt' } }],
      all.map((d) => h('tr', { dataset: { datasource: d.name } },
        h('td', { class: 'id' }, h('a', { href: `#/datasource/${enc(d.name)}` }, d.name)),
        h('td', { class: 'num ds-used' }, fmtNumber(d.usedSegments)),
        h('td', { class: 'num ds-unused' }, fmtNumber(d.unusedSegments)),
        h('td', { class: 'num' }, fmtBytes(d.size)),
        h('td', { class: 'num opt ds-rows' }, d.rows === null || d.rows === undefined ? '—' : fmtNumber(d.rows)),
        h('td', { class: 'opt' }, fmtTime(d.minTime)),
        h('td', { class: 'opt' }, fmtTime(d.maxTime)),
        h('td', { class: 'num opt' }, fmtNumber(Array.isArray(d.intervals) ? d.intervals.length : d.intervals)))),
      { id: 'datasources-table' }));
  });
}

export async function renderDatasource(main, { arg: ds, signal }) {
  const summary = h('p', { id: 'datasource-summary' });
  const message = h('div', { 'aria-live': 'polite', id: 'datasource-message' });
  const intervals = h('div', { id: 'datasource-intervals' });
  const locks = h('div', { id: 'datasource-locks' });

  // Used and unused segments by interval, newest interval first.
  async function loadSegments() {
    const meta = `${COORDINATOR}/metadata/datasources/${enc(ds)}`;
    const [used, unused] = await Promise.all([
      api(`${meta}/segments?full`).catch((e) => { if (e.status === 404) return []; throw e; }),
      api(`${meta}/unusedSegments`).catch((e) => { if (e.status === 404) return []; throw e; }),
    ]);
    const groups = new Map();
    const add = (segment, isUsed) => {
      const key = segment.interval;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push({ segment, used: isUsed });
    };
    used.forEach((s) => add(s, true));
    unused.forEach((s) => add(s.dataSegment, false));
    const sorted = [...groups.entries()].sort(([a], [b]) => b.localeCompare(a));
    const usedSize = used.reduce((n, s) => n + (s.size || 0), 0);
    replace(summary, h('span', { id: 'datasource-used' }, String(used.length)), ' used segments (', fmtBytes(usedSize), '), ',
      h('span', { id: 'datasource-unused' }, String(unused.length)), ' unused, in ', String(sorted.length), ' intervals.');
    replace(intervals, sorted.length === 0 ? h('p', { class: 'muted' }, 'No segment.')
      : sorted.map(([interval, segments]) => intervalPanel(interval, segments)));
  }

  function intervalPanel(interval, segments) {
    const usedCount = segments.filter((s) => s.used).length;
    const unusedCount = segments.length - usedCount;
    segments.sort((a, b) => (b.segment.version.localeCompare(a.segment.version))
      || ((a.segment.shardSpec || {}).partitionNum || 0) - ((b.segment.shardSpec || {}).partitionNum || 0));
    return h('section', { class: 'panel', dataset: { interval } },
      h('h2', {}, interval),
      h('div', { class: 'row' },
        h('span', {}, `${usedCount} used, ${unusedCount} unused`),
        usedCount ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Mark ${interval} unused`,
          onclick: () => markIntervalUnused(interval) }, 'Mark interval unused') : '',
        unusedCount ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Kill unused segments of ${interval}`,
          onclick: () => killInterval(interval) }, 'Kill unused segments') : ''),
      table(['Segment', 'Version', { label: 'Partition', attrs: { class: 'num' } }, { label: 'Size', attrs: { class: 'num' } }, 'State', ''],
        segments.map(({ segment, used }) => {
          const id = segmentId(segment);
          return h('tr', { dataset: { segment: id } },
            h('td', { class: 'id' }, id),
            h('td', {}, segment.version),
            h('td', { class: 'num' }, String((segment.shardSpec || {}).partitionNum ?? 0)),
            h('td', { class: 'num' }, fmtBytes(segment.size)),
            h('td', { class: 'segment-state' }, used ? 'used' : 'unused'),
            h('td', {}, used ? h('button', { type: 'button', class: 'small', 'aria-label': `Mark ${id} unused`,
              onclick: () => markSegmentUnused(id) }, 'Mark unused') : ''));
        })));
  }

  async function act(title, text, label, call, done) {
    if (await confirmThenCall(message, [title, text, label], call, done)) {
      await Promise.all([loadSegments(), loadLocks()]).catch(() => {});
    }
  }

  const markSegmentUnused = (id) => act('Mark this segment unused?', `${id} will no longer be served.`, 'Mark unused',
    () => api(`${V1}/datasources/${enc(ds)}/segments/${enc(id)}`, { method: 'DELETE' }),
    (a) => `${a.numChangedSegments} segment marked unused.`);

  const markIntervalUnused = (interval) => act('Mark the interval unused?',
    `Every used segment of ${ds} in ${interval} will no longer be served.`, 'Mark unused',
    () => api(`${V1}/datasources/${enc(ds)}/markUnused`, { method: 'POST', json: { interval } }),
    (a) => `${a.numChangedSegments} segments marked unused.`);

  const killInterval = (interval) => act('Kill the unused segments?',
    `A kill task deletes the unused segments of ${ds} in ${interval}, their metadata and their files. This cannot be undone.`, 'Kill',
    () => api(`${V1}/task`, { method: 'POST', json: { type: 'kill', dataSource: ds, interval } }),
    (a) => ['Kill task submitted: ', h('a', { href: `#/task/${enc(a.task)}` }, a.task)]);

  async function loadLocks() {
    const answer = await api(`${V1}/activeLocks`, { method: 'POST', json: [{ datasource: ds, priority: ANY_PRIORITY }] });
    const held = (answer.datasourceToLocks || {})[ds] || [];
    replace(locks, held.length === 0 ? h('p', { class: 'muted', id: 'no-locks' }, 'No active lock.')
      : table(['Group', 'Type', 'Interval', 'Version', { label: 'Priority', attrs: { class: 'num' } }, 'Revoked'],
        held.map((l) => h('tr', { dataset: { group: l.groupId } },
          h('td', { class: 'id' }, h('a', { href: `#/tasks?${new URLSearchParams({ id: l.groupId })}` }, l.groupId)),
          h('td', {}, l.type), h('td', {}, l.interval), h('td', {}, l.version),
          h('td', { class: 'num' }, String(l.priority ?? '')), h('td', {}, l.revoked ? 'revoked' : 'no'))),
        { id: 'locks-table' }));
  }

  replace(main,
    h('p', {}, h('a', { href: '#/datasources' }, '← Datasources')),
    h('h1', {}, ds),
    summary,
    h('div', { class: 'row' },
      h('a', { href: `#/tasks?${new URLSearchParams({ datasource: ds })}` }, 'Tasks of this datasource'),
      h('button', { type: 'button', class: 'danger', id: 'datasource-shutdown-all', onclick: () => shutdownAllTasks(ds, message) }, 'Shut down all its tasks')),
    message,
    h('section', { class: 'panel' }, h('h2', {}, 'Active locks'), locks),
    intervals);
  every(REFRESH_MS, signal, async () => {
    if (document.getElementById('confirm').open) return;
    await Promise.all([
      loadSegments().catch((e) => replace(intervals, errorBox(e))),
      loadLocks().catch((e) => replace(locks, errorBox(e))),
    ]);
  });
}

// Druid's segment id: `<dataSource>_<start>_<end>_<version>[_<partitionNum>]`.
function segmentId(s) {
  const [start, end] = s.interval.split('/');
  const partition = (s.shardSpec || {}).partitionNum || 0;
  return `${s.dataSource}_${start}_${end}_${s.version}${partition ? `_${partition}` : ''}`;
}
