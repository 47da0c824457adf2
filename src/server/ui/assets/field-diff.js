// The differing objects of a diff, each changed one with the fields that changed: path, old and new value (never a
// Secret's: the server sends none, and says so).

import { h } from './dom.js';

const SIGN = { added: '+', removed: '−', changed: '~' };

// role=img: an aria-label on a plain span is ignored by screen readers; this way they say "changed", not "tilde".
function sign(change) {
  return h('span', { class: 'sign', role: 'img', 'aria-label': change }, SIGN[change]);
}

const HIDDEN = {
  sensitive: 'Values not shown: this object holds credentials (a Secret, an OAuth token or a Helm release).',
  'no-token': 'Values not shown: this server has no API token, so anyone who reaches it could read them.',
};

/** One changed field: `~ data.key "v1" → "v2"`, `+ data.extra "on"`, `− data.old (was "x")`. */
function fieldItem(c) {
  const value = (text, cls) => h('code', { class: `value ${cls}` }, text);
  const parts = [sign(c.change), ' ', h('code', { class: 'path' }, c.path)];
  if (c.change === 'changed' && c.from !== undefined && c.to !== undefined) {
    // Screen readers say "to" for the arrow.
    parts.push(' ', value(c.from, 'from'), ' ', h('span', { class: 'arrow', role: 'img', 'aria-label': 'to' }, '→'), ' ', value(c.to, 'to'));
  } else if (c.change === 'added' && c.to !== undefined) {
    parts.push(' ', value(c.to, 'to'));
  } else if (c.change === 'removed' && c.from !== undefined) {
    parts.push(' (was ', value(c.from, 'from'), ')');
  }
  return h('li', { class: `field-change change-${c.change}` }, parts);
}

/** What is known of a changed object's fields, under its key. */
function fieldsBlock(f) {
  const notes = [];
  if (f.note) notes.push(`${f.note[0].toUpperCase()}${f.note.slice(1)}.`);
  if (f.valuesHidden) notes.push(HIDDEN[f.valuesHidden] ?? 'Values not shown.');
  if (f.truncated) notes.push('More fields differ than are listed.');
  return h(
    'div',
    { class: 'fields' },
    f.changes.length > 0 ? h('ul', { class: 'field-list', 'aria-label': 'Changed fields' }, f.changes.map(fieldItem)) : null,
    notes.map((n) => h('p', { class: 'field-note muted small' }, n)),
  );
}

/** The list of differing objects, changed ones with their fields. */
export function renderObjects(objects) {
  return h(
    'ul',
    // Scrolls on its own: focusable, so keyboard users can scroll it too.
    { class: 'objects', tabindex: '0', 'aria-label': 'Differing objects' },
    objects.map((o) => h('li', { class: `object change-${o.change}` }, sign(o.change), ' ', h('code', { class: 'key' }, o.key), o.fields ? fieldsBlock(o.fields) : null)),
  );
}
