// A backup's chain of continuous backups (the delta segments recorded after it), and the point a restore goes to.

import { api } from './api.js';
import { formatBytes, formatCount, formatDate, h, show, table } from './dom.js';

/** The chain of backup `id` (undefined when it has no segments). */
export async function chainOf(id, signal) {
  const chains = await api('/chains', { signal });
  return chains.find((c) => c.base.id === id && c.segments.length > 0);
}

/**
 * Shows the chain in `box` (the base and its segments over time) and adds the point-in-time field to the restore
 * form's fieldset: a moment (local time) between the backup and the newest change recorded.
 */
export function renderChain(box, chain, fieldset) {
  const first = chain.segments.find((s) => s.firstEventAt);
  const seen = chain.lastObservedAt ? `, changes seen until ${formatDate(chain.lastObservedAt)}` : '';
  show(
    box,
    h('h4', { id: 'chain-heading' }, 'Continuous backup'),
    h('p', { id: 'chain-summary' }, `Base at revision ${chain.base.revision} and ${formatCount(chain.segments.length)} ${chain.segments.length === 1 ? 'segment' : 'segments'}: restorable to any revision from ${chain.base.revision} to ${chain.coveredTo}${seen}.`),
    chain.problems.length > 0 ? h('p', { class: 'error' }, `The chain is broken: ${chain.problems[0]}. Restores stop at revision ${chain.coveredTo}.`) : null,
    table(
      'Segments over time',
      ['Revisions', 'Changes', 'First change seen', 'Last change seen', 'Stored'],
      chain.segments.map((s) => [`${s.fromRevision}–${s.toRevision}`, formatCount(s.events), s.firstEventAt ? formatDate(s.firstEventAt) : '—', s.lastEventAt ? formatDate(s.lastEventAt) : '—', formatBytes(s.sizeBytes)]),
      [1, 4],
    ),
  );
  if (!fieldset) return;
  const input = h('input', { id: 'restore-to', name: 'restore-to', type: 'datetime-local', step: '1', min: localInput(first?.firstEventAt ?? chain.base.createdAt), max: localInput(chain.lastObservedAt) });
  fieldset.append(
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'restore-to' }, 'Restore to the moment (local time; empty: the backup as taken)'),
      input,
    ),
  );
}

/** The `to` of a restore request from the form's moment, as an RFC 3339 time (undefined: none chosen). */
export function pointOf(value) {
  if (!value) return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

/** What a point-in-time plan or restore reached: the revision, the changes applied, the deletes. */
export function describePoint(result, dryRun) {
  if (!result.point) return null;
  const p = result.point;
  const seen = p.target.observedAt ? ` (the last change seen at ${formatDate(p.target.observedAt)})` : '';
  const d = result.deletes;
  return h(
    'p',
    { id: 'point-summary' },
    `The state at revision ${p.target.revision}${seen}: backup ${p.base.id} and ${formatCount(p.events)} recorded changes. ` +
      `${dryRun ? 'Would delete' : 'Deleted'} ${formatCount(d.deleted)} ${d.deleted === 1 ? 'key' : 'keys'} the changes deleted.`,
  );
}

/** A datetime-local value (local time, to the second) for an ISO time. */
function localInput(iso) {
  if (!iso) return undefined;
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
