// The Submit page: a task's JSON pasted, uploaded or started from a template, posted to
// `POST /druid/indexer/v1/task`. The Overlord checks it as it does every submission; a 400
// is shown with Druid's message and, when the answer names the field at fault (`"field":
// "spec.ioConfig.inputSource.baseDir"`), that field is named and highlighted in the JSON.

import { api, h, replace, enc, V1, pretty } from './ui.js';

const TEMPLATES = {
  noop: { type: 'noop', runTime: 5000 },
  index_parallel: {
    type: 'index_parallel',
    spec: {
      dataSchema: {
        dataSource: 'wikiticker',
        timestampSpec: { column: 'time', format: 'iso' },
        dimensionsSpec: { dimensions: ['channel', 'page', 'user'] },
        metricsSpec: [
          { type: 'count', name: 'count' },
          { type: 'longSum', name: 'added', fieldName: 'added' },
        ],
        granularitySpec: { segmentGranularity: 'day', queryGranularity: 'none', intervals: ['2015-09-12/2015-09-13'] },
      },
      ioConfig: {
        type: 'index_parallel',
        inputSource: { type: 'local', baseDir: '/path/to/steward/fixtures/druid/data', filter: 'wikiticker-2015-09-12-sampled.json.gz' },
        inputFormat: { type: 'json' },
      },
      tuningConfig: { type: 'index_parallel', maxNumConcurrentSubTasks: 2, partitionsSpec: { type: 'dynamic' } },
    },
  },
  kill: { type: 'kill', dataSource: 'wikiticker', interval: '2015-09-12/2015-09-13' },
};

export async function renderSubmit(main, { params }) {
  const text = h('textarea', { id: 'submit-json', rows: 22, spellcheck: 'false', name: 'task' });
  const file = h('input', { type: 'file', id: 'submit-file', accept: '.json,application/json' });
  const result = h('div', { id: 'submit-result', 'aria-live': 'assertive' });
  const preview = h('pre', { id: 'submit-preview', hidden: true, 'aria-label': 'The task, with the field at fault marked' });
  const template = params.get('template');
  text.value = pretty(TEMPLATES[template] || TEMPLATES.noop);

  file.addEventListener('change', async () => {
    if (file.files.length) text.value = await file.files[0].text();
  });

  async function submit(e) {
    e.preventDefault();
    replace(result);
    preview.hidden = true;
    let task;
    try {
      task = JSON.parse(text.value);
    } catch (err) {
      replace(result, h('div', { class: 'error', role: 'alert', id: 'submit-error' }, `Not JSON: ${err.message}`));
      return;
    }
    try {
      const answer = await api(`${V1}/task`, { method: 'POST', json: text.value });
      location.hash = `#/task/${enc(answer.task)}`;
    } catch (err) {
      const body = err.body || {};
      const fieldMatch = /field \[([^\]]+)\]/.exec(err.message);
      const field = body.field || (fieldMatch && fieldMatch[1]);
      replace(result, h('div', { class: 'error', role: 'alert', id: 'submit-error' },
        h('p', { id: 'submit-message' }, err.message),
        field ? h('p', {}, 'Field: ', h('code', { class: 'field', id: 'submit-field' }, field)) : ''));
      if (field) showField(task, field);
    }
  }

  function showField(task, field) {
    const { lines, found } = jsonLines(task, field);
    replace(preview, lines.map(({ text: line, hit }) => (hit ? [h('mark', {}, line), '\n'] : `${line}\n`)));
    preview.hidden = false;
    const marked = preview.querySelector('mark');
    if (marked) marked.scrollIntoView({ block: 'center' });
    if (!found) preview.prepend(h('span', { class: 'muted' }, `[${field}] is missing; its nearest enclosing field is marked.\n`));
    selectInTextarea(field);
  }

  // Selects the field's key in the editor too, so that it can be fixed where it is shown.
  function selectInTextarea(field) {
    const key = field.split('.').pop().replace(/\[\d+\]$/, '');
    const at = text.value.indexOf(`"${key}"`);
    if (at >= 0) text.setSelectionRange(at, at + key.length + 2);
  }

  const pick = (name) => h('button', { type: 'button', id: `template-${name}`, onclick: () => {
    text.value = pretty(TEMPLATES[name]);
    replace(result);
    preview.hidden = true;
  } }, name);

  replace(main,
    h('h1', {}, 'Submit a task'),
    h('form', { class: 'panel', id: 'submit-form', onsubmit: submit },
      h('div', { class: 'row' }, h('span', { class: 'muted' }, 'Templates:'), Object.keys(TEMPLATES).map(pick)),
      h('label', { for: 'submit-json' }, 'Task JSON (paste, type or load a file)'),
      text,
      h('div', { class: 'row' },
        h('label', { class: 'inline' }, 'Load a file', file),
        h('button', { type: 'submit', class: 'primary', id: 'submit-button' }, 'Submit')),
      h('p', { class: 'muted' }, 'index_parallel reads files the MiddleManagers can see: set baseDir to their directory.')),
    result,
    preview);
}

// The task pretty-printed line by line, each line marked when it holds the field named by
// `path` (`a.b[0].c`), or the deepest enclosing field when that one is missing.
function jsonLines(value, path) {
  const want = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter(Boolean);
  let depth = 0;
  const deepest = (keys) => {
    let n = 0;
    while (n < keys.length && n < want.length && String(keys[n]) === want[n]) n++;
    return n === keys.length ? n : -1;
  };
  const lines = [];
  const walk = (v, keys, prefix, indent, comma) => {
    const match = deepest(keys);
    if (match > depth) depth = match;
    const pad = '  '.repeat(indent);
    if (v && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
      const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
      if (!entries.length) { lines.push({ keys, text: `${pad}${prefix}${open}${close}${comma}` }); return; }
      lines.push({ keys, text: `${pad}${prefix}${open}` });
      entries.forEach(([k, x], i) => walk(x, [...keys, k],
        Array.isArray(v) ? '' : `${JSON.stringify(k)}: `, indent + 1, i < entries.length - 1 ? ',' : ''));
      lines.push({ keys: null, text: `${pad}${close}${comma}` });
    } else {
      lines.push({ keys, text: `${pad}${prefix}${JSON.stringify(v)}${comma}` });
    }
  };
  walk(value, [], '', 0, '');
  const found = depth === want.length;
  for (const line of lines) {
    line.hit = depth > 0 && line.keys !== null && line.keys.length === depth && deepest(line.keys) === depth;
  }
  return { lines, found };
}
