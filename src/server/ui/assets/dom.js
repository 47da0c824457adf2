// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML: keys and names come from etcd.

/** Creates an element: h('button', { type: 'button', onclick }, 'Label', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's content. */
export function show(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  el.removeAttribute('aria-busy');
}

/** A loading, empty or error message in a container. */
export function state(el, text, kind = 'info', action) {
  el.setAttribute('aria-busy', kind === 'loading' ? 'true' : 'false');
  el.replaceChildren(h('p', { class: `state state-${kind}`, ...(kind === 'error' && { role: 'alert' }) }, text, action ? ' ' : '', action));
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatCount(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

export function formatDate(iso) {
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} UTC`;
}

/** "5 minutes ago" style text for a past time. */
export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A table with a caption, column headings and rows of cells; numeric columns are right-aligned. */
export function table(caption, headings, rows, numeric = []) {
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headings.map((t, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : undefined }, t)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: numeric.includes(i) ? 'num' : undefined }, c)))))),
  );
}

/** Splits "a, b ,c" into ["a", "b", "c"]. */
export function splitList(text) {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Hands a Blob to the browser as a download named `filename` (an object URL, released once the save has begun). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cancel the save in some browsers; a minute is plenty for it to start.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
