// drmpipe jobs page: lists the packaging jobs of this server (GET
// /v1/jobs, api/openapi.yaml) with state, attempts, progress, times and
// errors, refreshed every few seconds. The API key is pasted by the user,
// kept in sessionStorage (this tab only) and sent as a bearer token to
// this origin only. Every value from the API is written with textContent,
// never as HTML.
'use strict';

const keyName = 'drmpipe.jobs.apiKey';
const $ = (sel) => document.querySelector(sel);

// window.drmpipeJobs is the page's state for tests and the console: the
// jobs of the last answer, the time of that answer and the last error.
const state = { jobs: [], updatedAt: null, error: '', polls: 0 };
window.drmpipeJobs = state;

let timer = null;

function apiKey() {
  return sessionStorage.getItem(keyName) || '';
}

function seconds(ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '';
  const s = ms / 1000;
  if (s < 10) return s.toFixed(2) + ' s';
  if (s < 600) return s.toFixed(1) + ' s';
  return Math.round(s / 60) + ' min';
}

function bytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + units[i];
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// progressText is what a job has done: segments written and bytes read
// while it runs (the worker records them every second), the output summary
// once it completed.
function progressCell(tr, j) {
  const td = cell(tr, '', 'progress');
  if (j.result) {
    const segs = (j.result.tracks || []).reduce((n, t) => n + (t.segments || 0), 0);
    td.textContent = `${(j.result.tracks || []).length} tracks, ${segs} segments, ${bytes(j.result.inputBytes)} read`;
    return;
  }
  if (j.progress) {
    td.textContent = `${j.progress.segments} segments, ${bytes(j.progress.bytesRead)} read`;
    return;
  }
  if (j.state === 'running') {
    const p = document.createElement('progress');
    td.appendChild(p); // indeterminate until the first progress record
  }
}

function render() {
  const filter = $('#filter').value;
  const tbody = $('#jobs tbody');
  const rows = [];
  const counts = { queued: 0, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const j of state.jobs) {
    counts[j.state] = (counts[j.state] || 0) + 1;
    if (filter === 'active' && !['queued', 'running', 'retrying'].includes(j.state)) continue;
    if (filter && filter !== 'active' && j.state !== filter) continue;
    const tr = document.createElement('tr');
    tr.dataset.id = String(j.id);
    tr.dataset.state = j.state;
    cell(tr, String(j.id), 'id');
    cell(tr, j.request?.contentId || '', 'content');
    cell(tr, j.state, 'state');
    cell(tr, `${j.attempt} of ${j.maxAttempts}`, 'attempts');
    progressCell(tr, j);
    const created = Date.parse(j.createdAt);
    const started = j.startedAt ? Date.parse(j.startedAt) : NaN;
    const finished = j.finishedAt ? Date.parse(j.finishedAt) : NaN;
    cell(tr, Number.isFinite(created) ? new Date(created).toLocaleString() : '', 'submitted');
    // startedAt is the latest attempt's start: the wait of the first
    // attempt, or of a retry after its backoff.
    cell(tr, j.attempt <= 1 && Number.isFinite(started) ? seconds(started - created) : '', 'wait');
    const end = Number.isFinite(finished) ? finished : (j.state === 'running' ? Date.now() : NaN);
    cell(tr, j.result ? seconds(j.result.seconds * 1000) : (Number.isFinite(started) ? seconds(end - started) : ''), 'runtime');
    cell(tr, j.request?.output || '', 'output');
    const errs = j.errors || [];
    cell(tr, errs.length ? `attempt ${errs[errs.length - 1].attempt}: ${errs[errs.length - 1].error}` : '', 'error');
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  for (const el of document.querySelectorAll('.count')) {
    el.querySelector('b').textContent = String(counts[el.dataset.state] || 0);
  }
  $('#updated').textContent = state.updatedAt ? `updated ${new Date(state.updatedAt).toLocaleTimeString()}` : '';
  $('#status').textContent = state.error;
}

async function poll() {
  const key = apiKey();
  if (!key) {
    state.error = 'Paste an API key of scope package to see the jobs.';
    render();
    return;
  }
  try {
    const res = await fetch('/v1/jobs?limit=200', {
      headers: { Authorization: 'Bearer ' + key, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
    let body = null;
    try { body = await res.json(); } catch { body = null; }
    if (!res.ok) {
      const why = body?.message || res.statusText;
      state.error = res.status === 401 || res.status === 403
        ? `The server refused the key (${res.status}: ${why}); it needs scope package.`
        : `The jobs API answered ${res.status}: ${why}`;
    } else {
      state.jobs = body.jobs || [];
      state.updatedAt = Date.now();
      state.error = '';
    }
  } catch (e) {
    state.error = `The server is unreachable: ${e.message}`;
  }
  state.polls++;
  render();
}

function schedule() {
  clearInterval(timer);
  const s = Number($('#interval').value);
  if (s > 0) timer = setInterval(poll, s * 1000);
}

document.addEventListener('DOMContentLoaded', () => {
  const params = new URLSearchParams(location.search);
  const refresh = params.get('refresh');
  if (refresh && [...$('#interval').options].some((o) => o.value === refresh)) $('#interval').value = refresh;
  $('#key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const k = $('#api-key').value.trim();
    if (k) sessionStorage.setItem(keyName, k);
    $('#api-key').value = '';
    poll();
  });
  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(keyName);
    state.jobs = [];
    state.updatedAt = null;
    poll();
  });
  $('#interval').addEventListener('change', schedule);
  $('#filter').addEventListener('change', render);
  schedule();
  poll();
});
