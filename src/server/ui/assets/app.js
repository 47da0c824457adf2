// reshifter's web UI: the backups as a timeline and a chart, a backup's details and stats, back up now (with its
// progress), verify, download, delete (after a confirm step), diff two backups (down to the fields of changed
// objects), and restore in two steps (the dry-run plan, then confirm). Plain modules, no build step.

import { api, ApiFailure, downloadArtifact, getToken, setToken, waitForJob } from './api.js';
import { backupChart, chartLegend } from './chart.js';
import { chainOf, describePoint, pointOf, renderChain } from './chain.js';
import { ago, formatBytes, formatCount, formatDate, h, saveBlob, show, splitList, state, table } from './dom.js';
import { renderObjects } from './field-diff.js';
import { holdsValues, seriesOf } from './kinds.js';
import { describeProgress, formatDuration, tookText } from './progress.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  backupProgress: $('backup-progress'),
  chart: $('chart'),
  timeline: $('timeline'),
  details: $('details'),
  diffForm: $('diff-form'),
  diffFrom: $('diff-from'),
  diffTo: $('diff-to'),
  diffResult: $('diff-result'),
  jobs: $('jobs'),
  tokenForm: $('token-form'),
  token: $('token'),
  forgetToken: $('forget-token'),
};

const PICK_BACKUP = 'Select a backup to see its manifest, what it holds, and to verify, download, restore or delete it.';

let backups = [];
let selectedId;
let detailsAbort;
let jobsTimer;
/** The backup job "Back up now" follows (its progress is shown from its own polling). */
let followedBackup;

/** Tells screen readers and sighted users what just happened. */
function announce(text, kind = 'info') {
  ui.status.className = `status status-${kind}`;
  ui.status.textContent = text;
}

function describeFailure(err) {
  if (err instanceof ApiFailure && err.status === 401) return 'This server needs its API token: enter it above.';
  return err.message;
}

/** True when a token has been entered; otherwise says why an action needs one and moves focus to the field. */
function requireToken() {
  if (getToken()) return true;
  announce('Enter the API token first: backing up, verifying, downloading, deleting and restoring change or read whole backups.', 'error');
  ui.token.focus();
  return false;
}

// ---- token ----

function renderTokenState() {
  const has = Boolean(getToken());
  ui.forgetToken.hidden = !has;
  ui.token.value = '';
  ui.token.placeholder = has ? 'token entered' : '';
}

ui.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const value = ui.token.value.trim();
  if (!value) {
    announce('Type the token (the value of RS_API_TOKEN) first.', 'error');
    ui.token.focus();
    return;
  }
  setToken(value);
  renderTokenState();
  announce('Token saved for this tab.');
  void refreshAll();
});

ui.forgetToken.addEventListener('click', () => {
  setToken('');
  renderTokenState();
  announce('Token forgotten.');
  ui.token.focus();
  void refreshAll();
});

// ---- backups: chart and timeline ----

async function loadBackups() {
  state(ui.timeline, 'Loading backups…', 'loading');
  ui.chart.setAttribute('aria-busy', 'true');
  try {
    backups = await api('/backups');
  } catch (err) {
    backups = [];
    selectedId = undefined;
    detailsAbort?.abort();
    state(ui.details, PICK_BACKUP);
    ui.chart.replaceChildren();
    ui.chart.hidden = true;
    state(ui.timeline, `Cannot load backups: ${describeFailure(err)}`, 'error', h('button', { type: 'button', onclick: () => void loadBackups() }, 'Try again'));
    renderDiffChoices();
    return;
  }
  if (backups.length > 0) $('cluster').textContent = `cluster ${backups[0].cluster}`;
  renderChart();
  renderTimeline();
  renderDiffChoices();
  if (selectedId && !backups.some((m) => m.id === selectedId)) {
    selectedId = undefined;
    state(ui.details, 'That backup is gone. Select another one.');
  }
}

function renderChart() {
  ui.chart.hidden = backups.length === 0;
  if (backups.length === 0) {
    ui.chart.replaceChildren();
    return;
  }
  show(ui.chart, backupChart(backups, selectedId), chartLegend(backups));
}

function renderTimeline() {
  if (backups.length === 0) {
    state(ui.timeline, 'No backups yet. Take one with "Back up now", or run "reshifter backup".', 'empty');
    return;
  }
  const items = backups.map((m) =>
    h(
      'li',
      {},
      h(
        'button',
        { type: 'button', class: 'backup-item', 'aria-pressed': m.id === selectedId ? 'true' : 'false', 'data-id': m.id, onclick: () => void selectBackup(m.id) },
        h('span', { class: 'when' }, h('time', { datetime: m.createdAt }, formatDate(m.createdAt)), h('span', { class: 'muted small' }, ` · ${ago(m.createdAt)}`)),
        h('span', { class: 'facts' }, h('span', { class: `badge badge-${m.strategy.split(':')[0]}` }, m.strategy), ` ${formatBytes(m.sizeBytes)}`, typeof m.keys === 'number' ? ` · ${formatCount(m.keys)} keys` : '', m.etcd ? ` · rev ${m.etcd.revision}` : '', m.checkpoint ? ` · ${containerOf(m)}` : '', m.encryption === 'age' ? ' · encrypted' : ''),
      ),
    ),
  );
  show(ui.timeline, h('ol', { class: 'timeline', 'aria-label': 'Backups, newest first' }, items));
}

// ---- one backup ----

async function selectBackup(id) {
  selectedId = id;
  renderTimeline();
  renderChart();
  const m = backups.find((b) => b.id === id);
  detailsAbort?.abort();
  if (!m) {
    state(ui.details, PICK_BACKUP);
    return;
  }
  detailsAbort = new AbortController();
  const statsBox = h('div', { class: 'stats', 'aria-live': 'polite' });
  const verifyBox = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const downloadBox = h('div', { class: 'download-result', 'aria-live': 'polite' });
  const deleteBox = h('div', { class: 'delete-result', 'aria-live': 'polite' });
  const downloadButton = h('button', { type: 'button', id: 'download', onclick: () => void download(m, downloadBox, downloadButton) }, 'Download');
  const deleteButton = h('button', { type: 'button', id: 'delete', onclick: () => askDelete(m, deleteBox, deleteButton) }, 'Delete');
  show(
    ui.details,
    h('h3', {}, m.id),
    h(
      'dl',
      { class: 'manifest' },
      row('Created', `${formatDate(m.createdAt)} (${ago(m.createdAt)})`),
      row('Strategy', m.strategy),
      row('Artifact', m.artifact),
      row('Stored size', `${formatBytes(m.sizeBytes)} (${formatBytes(m.rawSizeBytes)} before ${[m.compression !== 'none' ? m.compression : '', m.encryption !== 'none' ? m.encryption : ''].filter(Boolean).join(' + ') || 'encoding'})`),
      m.etcd ? row('etcd', `${m.etcd.version}, API ${m.etcd.apiVersion}, revision ${m.etcd.revision}`) : null,
      m.checkpoint ? row('Container', containerOf(m)) : null,
      m.checkpoint ? row('Node', `${m.checkpoint.node ?? 'unknown'} (${m.checkpoint.architecture}), ${m.checkpoint.kubeletPath}`) : null,
      typeof m.keys === 'number' ? row('Keys', formatCount(m.keys)) : null,
      row('sha256', h('code', { class: 'hash' }, m.sha256)),
      typeof m.durationMs === 'number' ? row('Took', m.durationMs < 1 ? '<1ms' : formatDuration(m.durationMs)) : null,
    ),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'verify', onclick: () => void verify(m, verifyBox) }, 'Verify'), downloadButton, deleteButton),
    verifyBox,
    downloadBox,
    deleteBox,
    restorePanel(m),
    h('h4', {}, 'What it holds'),
    statsBox,
  );
  if (m.checkpoint) state(statsBox, "A container checkpoint: CRIU's images of the container's memory and its changed files, no etcd keys.", 'empty');
  else void loadStats(m, statsBox, detailsAbort.signal);
}

/** `namespace/pod/container` of a checkpoint backup. */
function containerOf(m) {
  return `${m.checkpoint.namespace}/${m.checkpoint.pod}/${m.checkpoint.container}`;
}

function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

async function loadStats(m, box, signal) {
  state(box, 'Counting keys by namespace and resource…', 'loading');
  try {
    const s = await api(`/stats/${encodeURIComponent(m.id)}`, { signal });
    const top = (groups) => Object.entries(groups).slice(0, 12).map(([name, t]) => [name, formatCount(t.keys), formatBytes(t.bytes)]);
    show(
      box,
      h('p', {}, `${formatCount(s.keys)} keys, ${formatBytes(s.keyBytes + s.valueBytes)}.`),
      h('div', { class: 'stat-tables' }, table('By namespace', ['Namespace', 'Keys', 'Bytes'], top(s.byNamespace), [1, 2]), table('By resource', ['Resource', 'Keys', 'Bytes'], top(s.byResource), [1, 2])),
    );
  } catch (err) {
    if (err.name === 'AbortError') return;
    state(box, `Cannot count this backup's keys: ${describeFailure(err)}`, 'error');
  }
}

async function verify(m, box) {
  if (!requireToken()) return;
  state(box, 'Verifying…', 'loading');
  try {
    const job = await runJob(api(`/backups/${encodeURIComponent(m.id)}/verify`, { method: 'POST' }), `Verify ${m.id}`, (j) => state(box, `Verifying… ${formatBytes(j.progress.bytes)} read`, 'loading'));
    if (job.state === 'failed') {
      state(box, `Verify failed: ${job.error}`, 'error');
      return;
    }
    const r = job.result;
    show(
      box,
      h('p', { class: r.ok ? 'ok' : 'bad', role: r.ok ? undefined : 'alert' }, r.ok ? 'All checks passed.' : 'The backup failed verification.'),
      h('ul', { class: 'checks' }, r.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' }, h('strong', {}, `${c.ok ? 'ok' : 'FAIL'} ${c.name}`), ` ${c.detail}`))),
    );
  } catch (err) {
    state(box, `Cannot verify: ${describeFailure(err)}`, 'error');
  }
}

// ---- download ----

/** Fetches the stored bytes with the token, showing how far it got, then saves them under the artifact's name. */
async function download(m, box, button) {
  if (!requireToken()) return;
  const controller = new AbortController();
  const bar = h('progress', { id: 'download-progress', max: Math.max(1, m.sizeBytes), value: 0, 'aria-label': `Downloading ${m.artifact}` });
  // Visual only: a live region that changed with every chunk would flood a screen reader; the bar carries the value.
  const counter = h('span', { class: 'muted small', 'aria-hidden': 'true' }, `0 B of ${formatBytes(m.sizeBytes)}`);
  const cancel = h('button', { type: 'button', id: 'cancel-download', onclick: () => controller.abort() }, 'Cancel download');
  show(box, h('p', { class: 'state state-loading' }, `Downloading ${m.artifact}…`), h('div', { class: 'download-progress' }, bar, counter, cancel));
  box.setAttribute('aria-busy', 'true');
  button.disabled = true;
  const done = (text, kind) => {
    button.disabled = false;
    // The cancel button goes away with the progress: focus returns to where the user started.
    if (cancel === document.activeElement) button.focus();
    if (box.isConnected) state(box, text, kind);
    // The details were re-rendered meanwhile: say it where it is seen.
    else announce(text, kind);
  };
  try {
    const got = await downloadArtifact(m.id, {
      signal: controller.signal,
      onProgress: (received, total) => {
        bar.max = Math.max(1, total ?? m.sizeBytes);
        bar.value = received;
        counter.textContent = `${formatBytes(received)} of ${formatBytes(total ?? m.sizeBytes)}`;
      },
    });
    const name = got.filename ?? m.artifact;
    saveBlob(got.blob, name);
    done(`Saved ${name} (${formatBytes(got.blob.size)}). Its sha256 must be ${got.sha256 ?? m.sha256}, as in the manifest.`, 'ok');
  } catch (err) {
    if (err.name === 'AbortError') done('Download cancelled.', 'info');
    else done(`Cannot download: ${describeFailure(err)}`, 'error');
  }
}

// ---- delete: ask, then delete ----

/** True when `m` is the newest backup of its series: the server deletes it only when asked to force. */
function newestOfSeries(m) {
  const series = seriesOf(m);
  // Newest by id, as the server's `latest` and retention: a backup stamped by a clock that was ahead is not newer.
  return !backups.some((b) => seriesOf(b) === series && b.id > m.id);
}

function askDelete(m, box, button) {
  if (!requireToken()) return;
  const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-delete' }, 'Yes, delete this backup');
  const cancel = h('button', { type: 'button', id: 'cancel-delete' }, 'Cancel');
  show(
    box,
    h(
      'div',
      { class: 'confirm', role: 'group', 'aria-labelledby': 'delete-question' },
      h('p', { id: 'delete-question' }, `Delete backup ${m.id}? Its manifest and its ${formatBytes(m.sizeBytes)} of stored bytes are removed from the store. This cannot be undone.`),
      newestOfSeries(m) ? h('p', { class: 'warning', id: 'delete-newest' }, `It is the newest backup of series ${seriesOf(m)}: "latest" of that series becomes an older one, or none.`) : null,
      h('div', { class: 'actions' }, confirm, cancel),
    ),
  );
  confirm.addEventListener('click', () => void deleteBackup(m, box, [confirm, cancel]));
  cancel.addEventListener('click', () => {
    state(box, 'Nothing was deleted.');
    button.focus();
  });
  // The safe choice has the focus: Enter does not delete by accident.
  cancel.focus();
}

async function deleteBackup(m, box, buttons) {
  for (const b of buttons) b.disabled = true;
  box.setAttribute('aria-busy', 'true');
  try {
    // The confirm step is the operator's explicit choice, as --force is on the command line.
    await api(`/backups/${encodeURIComponent(m.id)}${newestOfSeries(m) ? '?force=true' : ''}`, { method: 'DELETE' });
  } catch (err) {
    state(box, `Cannot delete: ${describeFailure(err)}`, 'error');
    return;
  }
  if (selectedId === m.id) {
    selectedId = undefined;
    detailsAbort?.abort();
    state(ui.details, `Backup ${m.id} was deleted. ${PICK_BACKUP}`);
  }
  announce(`Backup ${m.id} deleted.`, 'ok');
  await loadBackups();
  // Its button is gone with it: focus goes back to the list.
  (ui.timeline.querySelector('button.backup-item') ?? $('refresh')).focus();
}

// ---- restore: plan first, then confirm ----

function restorePanel(m) {
  const panel = h('section', { class: 'restore', 'aria-labelledby': 'restore-heading' }, h('h4', { id: 'restore-heading' }, 'Restore'));
  if (m.checkpoint) {
    panel.append(
      h('p', { class: 'muted', id: 'no-restore' }, 'A container checkpoint is restored as an OCI image (pushed with skopeo, then run by a pod on a node with CRI-O and CRIU): ', h('code', {}, `reshifter restore ${m.id} --image-archive FILE`)),
    );
    return panel;
  }
  if (!holdsValues(m)) {
    panel.append(h('p', { class: 'muted', id: 'no-restore' }, `A ${m.strategy} listing holds no values, so it cannot be restored. Restore a key dump (raw, filter:) or a snapshot instead.`));
    return panel;
  }
  if (m.contentType === 'etcd-snapshot') {
    panel.append(
      h(
        'p',
        { class: 'muted' },
        "Writes the snapshot's live keys into the running etcd, as ",
        h('code', {}, `reshifter restore ${m.id} --keys`),
        ' does. To rebuild a whole etcd from it, restore it into a new data directory on the etcd host: ',
        h('code', {}, `reshifter restore ${m.id} --data-dir DIR`),
        '.',
      ),
    );
  }
  if (!getToken()) {
    panel.append(h('p', { class: 'muted' }, 'Enter the API token above to restore this backup into etcd.'));
    return panel;
  }
  const field = (id, label, hint) => h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, name: id, type: 'text', placeholder: hint, spellcheck: 'false' }));
  const result = h('div', { class: 'restore-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { id: 'restore-form', class: 'restore-form' },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Which keys (comma-separated; empty means all)'),
      field('include-namespaces', 'Only namespaces', 'e.g. prod, staging'),
      field('exclude-namespaces', 'Not namespaces', 'e.g. kube-system'),
      field('include-resources', 'Only resources', 'e.g. deployments, configmaps'),
      field('exclude-resources', 'Not resources', 'e.g. events'),
      h('div', { class: 'field checkbox' }, h('input', { id: 'skip-existing', name: 'skip-existing', type: 'checkbox' }), h('label', { for: 'skip-existing' }, 'Leave keys that already exist alone')),
    ),
    h('button', { type: 'submit', id: 'plan-restore' }, 'Plan restore (dry run)'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const request = { backupId: m.id, skipExisting: fd.get('skip-existing') === 'on' };
    for (const [name, key] of [['include-namespaces', 'includeNamespaces'], ['exclude-namespaces', 'excludeNamespaces'], ['include-resources', 'includeResources'], ['exclude-resources', 'excludeResources']]) {
      const list = splitList(String(fd.get(name) || ''));
      if (list.length > 0) request[key] = list;
    }
    const to = pointOf(String(fd.get('restore-to') || ''));
    if (to) request.to = to;
    void planRestore(request, result, form);
  });
  // Continuous backups: the chain recorded after this backup, and the moment to restore to.
  const chainBox = h('div', { class: 'chain', 'aria-live': 'polite' });
  void chainOf(m.id, detailsAbort?.signal)
    .then((chain) => chain && renderChain(chainBox, chain, form.querySelector('fieldset')))
    .catch(() => undefined);
  panel.append(chainBox, form, result);
  return panel;
}

async function planRestore(request, box, form) {
  if (!requireToken()) return;
  state(box, 'Planning: reading the backup and the target etcd, writing nothing…', 'loading');
  try {
    const job = await runJob(api('/restores', { method: 'POST', body: { ...request, dryRun: true } }), `Plan restore of ${request.backupId}`, (j) => state(box, `Planning… ${j.state === 'queued' ? 'waiting for the job before it' : `${formatCount(j.progress.keys)} keys looked at`}`, 'loading'));
    if (job.state === 'failed') {
      state(box, `Planning failed: ${job.error}`, 'error');
      return;
    }
    const plan = job.result;
    const t = plan.totals;
    const writes = t.create + t.update;
    const deletes = plan.deletes ? plan.deletes.deleted : 0;
    // An empty plan offers nothing to confirm: the button stays, disabled, and says why.
    const empty = writes === 0 && deletes === 0;
    const why = empty
      ? h('p', { id: 'plan-empty', class: 'muted' }, `Nothing to restore: every selected key is already in etcd with the same value${t.skipped > 0 ? ' or is skipped' : ''}. Change the filters above to plan another restore.`)
      : null;
    const confirm = h('button', { type: 'button', class: 'danger', id: 'confirm-restore', disabled: empty, 'aria-describedby': empty ? 'plan-empty' : undefined }, `Restore ${formatCount(writes)} ${writes === 1 ? 'key' : 'keys'} into etcd${deletes > 0 ? ` and delete ${formatCount(deletes)}` : ''}`);
    const cancel = h('button', { type: 'button', id: 'cancel-restore' }, empty ? 'Close plan' : 'Cancel');
    show(
      box,
      h('p', { id: 'plan-summary' }, `Dry run: ${formatCount(t.create)} to create, ${formatCount(t.update)} to update, ${formatCount(t.unchanged)} unchanged, ${formatCount(t.skipped)} skipped, into ${plan.target.endpoints.join(', ')}. Nothing was written.`),
      describePoint(plan, true),
      table('Restore plan by resource', ['Resource', 'Create', 'Update', 'Unchanged', 'Skipped'], plan.resources.map((r) => [r.resource, formatCount(r.create), formatCount(r.update), formatCount(r.unchanged), formatCount(r.skipped)]), [1, 2, 3, 4]),
      why,
      h('div', { class: 'actions' }, confirm, cancel),
    );
    if (!empty) confirm.addEventListener('click', () => void doRestore(request, box));
    cancel.addEventListener('click', () => {
      state(box, empty ? 'Nothing to restore; nothing was written.' : 'Restore cancelled; nothing was written.');
      form.querySelector('button[type=submit]').focus();
    });
    // A disabled button cannot hold the focus: for an empty plan it goes to the way out.
    (empty ? cancel : confirm).focus();
  } catch (err) {
    state(box, `Cannot plan the restore: ${describeFailure(err)}`, 'error');
  }
}

async function doRestore(request, box) {
  state(box, 'Restoring…', 'loading');
  try {
    const job = await runJob(api('/restores', { method: 'POST', body: { ...request, dryRun: false } }), `Restore ${request.backupId}`, (j) => state(box, `Restoring… ${j.state === 'queued' ? 'waiting for the job before it' : `${formatCount(j.progress.keys)} keys looked at`}`, 'loading'));
    if (job.state === 'failed') state(box, `Restore failed: ${job.error}`, 'error');
    else {
      const deleted = job.result.deletes ? ` and deleted ${formatCount(job.result.deletes.deleted)}` : '';
      const point = job.result.point ? ` (the state at revision ${job.result.point.target.revision})` : '';
      state(box, `Restored ${formatCount(job.result.written)} ${job.result.written === 1 ? 'key' : 'keys'}${deleted}${point} ${tookText(job.result.durationMs, job.result.written, 'keys')}.`, 'ok');
    }
  } catch (err) {
    state(box, `Cannot restore: ${describeFailure(err)}`, 'error');
  }
}

// ---- back up now ----

/**
 * Shows a running (or queued) backup above the chart: bytes read, and for a snapshot, whose size etcd tells before
 * it streams, a bar with percent, rate and time left. Hidden when `job` is undefined or finished.
 */
function showBackupProgress(job) {
  const box = ui.backupProgress;
  if (!job || (job.state !== 'running' && job.state !== 'queued')) {
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.job;
    return;
  }
  const what = `${job.trigger === 'schedule' ? 'Scheduled backup' : 'Backup'}${job.params.strategy ? ` (${job.params.strategy})` : ''}`;
  if (job.state === 'queued') {
    show(box, h('p', { class: 'state state-loading' }, `${what} waiting for the job before it…`));
  } else {
    const { percent, parts } = describeProgress(job.progress);
    // The bar carries the numbers for screen readers (aria-valuetext); the text beside it is for the eye, since a
    // live region changing every second would drown everything else.
    const bar = h('progress', { id: 'backup-progress-bar', 'aria-label': `${what} progress`, 'aria-valuetext': parts.join(', '), max: 100, ...(percent !== undefined && { value: percent }) });
    show(box, h('p', { class: 'job-progress-title' }, `${what} running`), h('div', { class: 'job-progress-row' }, bar, h('span', { id: 'backup-progress-text', class: 'progress-text', 'aria-hidden': 'true' }, parts.join(' · '))));
  }
  box.dataset.job = job.id;
  box.hidden = false;
}

$('backup-now').addEventListener('click', async () => {
  if (!requireToken()) return;
  announce('Backup started…');
  try {
    const job = await runJob(api('/backups', { method: 'POST' }), 'Back up now', (j) => {
      followedBackup = j.id;
      showBackupProgress(j);
    });
    followedBackup = undefined;
    showBackupProgress(undefined);
    if (job.state === 'failed') announce(`Backup failed: ${job.error}`, 'error');
    else {
      announce(`Backup ${job.result.id} completed: ${formatBytes(job.result.sizeBytes)}.`, 'ok');
      await loadBackups();
    }
  } catch (err) {
    followedBackup = undefined;
    showBackupProgress(undefined);
    announce(`Cannot back up: ${describeFailure(err)}`, 'error');
  }
});

$('refresh').addEventListener('click', () => void refreshAll());

// ---- diff ----

function renderDiffChoices() {
  // Only backups that hold values can be compared (render listings hold names only).
  const comparable = backups.filter(holdsValues);
  const fill = (select, pick) => {
    select.replaceChildren(...comparable.map((m) => h('option', { value: m.id, selected: m.id === pick }, `${formatDate(m.createdAt)} · ${m.strategy}`)));
  };
  fill(ui.diffFrom, comparable[1]?.id ?? comparable[0]?.id);
  fill(ui.diffTo, comparable[0]?.id);
  ui.diffForm.querySelector('button').disabled = comparable.length < 2;
  if (comparable.length < 2) state(ui.diffResult, 'Comparing needs two snapshots or key dumps (render listings hold no values).', 'empty');
  else if (ui.diffResult.querySelector('.state-empty')) ui.diffResult.replaceChildren();
}

ui.diffForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const from = ui.diffFrom.value;
  const to = ui.diffTo.value;
  state(ui.diffResult, 'Comparing the two backups key by key…', 'loading');
  try {
    const d = await api(`/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=200`);
    const s = d.summary;
    show(
      ui.diffResult,
      h('p', { id: 'diff-summary' }, `${formatCount(s.added)} added, ${formatCount(s.removed)} removed, ${formatCount(s.changed)} changed, ${formatCount(s.unchanged)} unchanged.${s.outside > 0 && d.filtered ? ` Only the keys both backups can hold were compared: ${formatCount(s.outside)} more, held by one backup alone (a filtered key dump holds only the resources and namespaces it selected), are not counted.` : s.outside > 0 && d.scope ? ` Only the keys under ${d.scope.join(', ') || 'no common prefix'} were compared: ${formatCount(s.outside)} more, held by one backup alone (a key dump holds only its prefixes), are not counted.` : ''}`),
      d.groups.length === 0
        ? h('p', { class: 'state state-empty' }, 'No object differs.')
        : [
            table('Changes by resource and namespace', ['Resource', 'Namespace', 'Added', 'Removed', 'Changed'], d.groups.map((g) => [g.resource, g.namespace ?? '–', formatCount(g.added), formatCount(g.removed), formatCount(g.changed)]), [2, 3, 4]),
            // Open when short enough to read at a glance: the changed fields are the point of looking.
            h('details', { open: d.objects.length <= 50 }, h('summary', {}, `Objects (${d.objects.length}${d.truncated ? ', more not listed' : ''})`), renderObjects(d.objects)),
          ],
    );
  } catch (err) {
    state(ui.diffResult, `Cannot compare: ${describeFailure(err)}`, 'error');
  }
});

// ---- jobs ----

/** Starts a job (the POST's promise), follows it to the end, and keeps the jobs list fresh meanwhile. */
async function runJob(started, _label, onUpdate) {
  const job = await started;
  scheduleJobs(0);
  const done = await waitForJob(job.id, onUpdate);
  scheduleJobs(0);
  return done;
}

function scheduleJobs(delay) {
  clearTimeout(jobsTimer);
  jobsTimer = setTimeout(() => void loadJobs(), delay);
}

async function loadJobs() {
  let jobs;
  try {
    jobs = await api('/jobs');
  } catch (err) {
    state(ui.jobs, `Cannot load jobs: ${describeFailure(err)}`, 'error');
    return;
  }
  // A backup started elsewhere (the schedule, another tab, curl) shows its progress too; "Back up now" shows its own.
  if (followedBackup === undefined) {
    const shown = ui.backupProgress.dataset.job;
    showBackupProgress(jobs.find((j) => j.kind === 'backup' && (j.state === 'running' || j.state === 'queued')));
    // The backup it showed has finished: it belongs in the list now.
    if (shown && jobs.some((j) => j.id === shown && j.state === 'succeeded')) void loadBackups();
  }
  if (jobs.length === 0) state(ui.jobs, 'No jobs yet.', 'empty');
  else {
    show(
      ui.jobs,
      table(
        'Recent jobs, newest first',
        ['Job', 'State', 'Started', 'Progress', 'Outcome'],
        jobs.slice(0, 10).map((j) => [
          `${j.kind}${j.params.backupId ? ` ${j.params.backupId}` : ''}${j.params.dryRun ? ' (dry run)' : ''}${j.trigger === 'schedule' ? ' (scheduled)' : ''}`,
          h('span', { class: `job-state job-${j.state}` }, j.state + (j.queuePosition ? ` (#${j.queuePosition})` : '')),
          j.startedAt ? ago(j.startedAt) : '–',
          j.state === 'running' && j.progress.bytes > 0
            ? describeProgress(j.progress).parts.join(', ')
            : [j.progress.bytes > 0 ? formatBytes(j.progress.bytes) : '', j.progress.keys > 0 ? `${formatCount(j.progress.keys)} keys` : ''].filter(Boolean).join(', ') || '–',
          j.error ?? (j.state === 'succeeded' ? 'done' : ''),
        ]),
      ),
    );
  }
  // Quickly while something runs; now and then otherwise, so a scheduled backup shows up when it starts.
  scheduleJobs(jobs.some((j) => j.state === 'queued' || j.state === 'running') ? 1500 : 10_000);
}

// ---- clusters: the fleet sharing this store (as `reshifter list --all-clusters`) ----

async function loadClusters() {
  const box = $('clusters');
  let clusters;
  try {
    clusters = await api('/clusters');
  } catch (err) {
    state(box, `Cannot load clusters: ${describeFailure(err)}`, 'error');
    return;
  }
  if (clusters.length === 0) {
    state(box, 'No cluster has a backup in this store yet.', 'empty');
    return;
  }
  show(
    box,
    table(
      'Each cluster of the store with its newest backup; this server backs up the one marked "this cluster".',
      ['Cluster', 'Backups', 'Newest', 'Strategy', 'Age'],
      clusters.map((c) => [
        c.current ? `${c.cluster} (this cluster)` : c.cluster,
        formatCount(c.backups),
        c.newest ? formatDate(c.newest.createdAt) : '–',
        c.newest?.strategy ?? '–',
        c.newest ? ago(c.newest.createdAt) : '–',
      ]),
      [1],
    ),
  );
}

// ---- start ----

async function loadVersion() {
  try {
    const v = await api('/version');
    $('version').textContent = `v${v.version}`;
  } catch {
    // Shown by the backups list, which fails the same way.
  }
}

async function refreshAll() {
  await Promise.all([loadVersion(), loadBackups(), loadJobs(), loadClusters()]);
  // Re-rendered so the restore form follows the token.
  if (selectedId && backups.some((m) => m.id === selectedId)) void selectBackup(selectedId);
}

async function start() {
  renderTokenState();
  await refreshAll();
}

void start();
