// The backups over time as an inline SVG: stored size as bars, key counts (key dumps) as a line with dots.

import { formatBytes, formatCount, formatDate } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = { left: 64, right: 64, top: 16, bottom: 36 };

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Draws `backups` (manifests, any order) oldest to newest. Returns the <svg>; a text summary is in its <title> and
 * <desc> for screen readers, and each bar has its own <title>.
 */
export function backupChart(backups, selectedId) {
  const list = [...backups].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  const maxSize = Math.max(1, ...list.map((m) => m.sizeBytes));
  const withKeys = list.filter((m) => typeof m.keys === 'number');
  const maxKeys = Math.max(1, ...withKeys.map((m) => m.keys));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / list.length;
  const barW = Math.max(2, Math.min(36, slot * 0.6));
  const x = (i) => PAD.left + slot * i + slot / 2;
  const ySize = (v) => PAD.top + innerH - (v / maxSize) * innerH;
  const yKeys = (v) => PAD.top + innerH - (v / maxKeys) * innerH;

  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', class: 'chart-svg' });
  const first = list[0];
  const last = list[list.length - 1];
  root.append(
    svg('title', { id: 'chart-title' }, 'Backup sizes and key counts over time'),
    svg(
      'desc',
      { id: 'chart-desc' },
      `${list.length} backups from ${formatDate(first.createdAt)} to ${formatDate(last.createdAt)}; ` +
        `stored sizes up to ${formatBytes(maxSize)}` +
        (withKeys.length > 0 ? `; key dumps hold up to ${formatCount(maxKeys)} keys.` : '.'),
    ),
  );
  // Grid and axes.
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + innerH - f * innerH;
    root.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: 'grid' }));
    root.append(svg('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, formatBytes(Math.round(maxSize * f))));
    if (withKeys.length > 0) root.append(svg('text', { x: W - PAD.right + 6, y: y + 4, class: 'axis keys' }, formatCount(Math.round(maxKeys * f))));
  }
  root.append(svg('text', { x: PAD.left, y: H - 8, class: 'axis' }, formatDate(first.createdAt).slice(0, 16)));
  if (list.length > 1) root.append(svg('text', { x: W - PAD.right, y: H - 8, 'text-anchor': 'end', class: 'axis' }, formatDate(last.createdAt).slice(0, 16)));

  list.forEach((m, i) => {
    const y = ySize(m.sizeBytes);
    const bar = svg('rect', {
      x: x(i) - barW / 2,
      y,
      width: barW,
      height: Math.max(1, PAD.top + innerH - y),
      rx: 2,
      class: `bar${m.id === selectedId ? ' selected' : ''}`,
    });
    bar.append(svg('title', {}, `${formatDate(m.createdAt)}: ${m.strategy}, ${formatBytes(m.sizeBytes)}${typeof m.keys === 'number' ? `, ${formatCount(m.keys)} keys` : ''}`));
    root.append(bar);
  });
  if (withKeys.length > 0) {
    const points = list.map((m, i) => (typeof m.keys === 'number' ? `${x(i)},${yKeys(m.keys)}` : null)).filter(Boolean);
    if (points.length > 1) root.append(svg('polyline', { points: points.join(' '), class: 'keys-line' }));
    list.forEach((m, i) => {
      if (typeof m.keys === 'number') root.append(svg('circle', { cx: x(i), cy: yKeys(m.keys), r: 3.5, class: 'keys-dot' }));
    });
  }
  return root;
}

/** The legend under the chart. */
export function chartLegend(hasKeys) {
  const span = (cls, text) => {
    const s = document.createElement('span');
    s.className = `legend-item ${cls}`;
    s.textContent = text;
    return s;
  };
  const cap = document.createElement('figcaption');
  cap.className = 'legend';
  cap.append(span('legend-size', 'stored size'));
  if (hasKeys) cap.append(span('legend-keys', 'keys (key dumps)'));
  return cap;
}
