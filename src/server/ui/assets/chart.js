// The backups over time as an inline SVG, one series per strategy: stored size as bars and, for series that count
// keys (key dumps), key counts as a line. Each series has its own colour and marker shape, named in the legend.

import { formatBytes, formatCount, formatDate } from './dom.js';
import { seriesOf } from './kinds.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = { left: 64, right: 64, top: 16, bottom: 36 };
/** Colours (app.css: .series-0 ...) and marker shapes; past that many series both repeat. */
const COLOURS = 6;
const SHAPES = ['circle', 'square', 'diamond', 'triangle'];
const KIND_ORDER = ['snapshot', 'raw', 'filter', 'render'];

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * The series of `backups` in a stable order (snapshot, raw, filters, render, then others, by name), each with its
 * index (for colour and shape) and its backups. Stable: a series keeps its colour as backups come and go.
 */
export function chartSeries(backups) {
  const byKey = new Map();
  for (const m of backups) {
    const key = seriesOf(m);
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key).push(m);
  }
  const rank = (key) => {
    const i = KIND_ORDER.indexOf(key.split(':')[0]);
    return i < 0 ? KIND_ORDER.length : i;
  };
  return [...byKey.keys()]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((key, index) => ({ key, index, backups: byKey.get(key), counts: byKey.get(key).some((m) => typeof m.keys === 'number') }));
}

/** A marker of `shape` centred on (x, y). */
function marker(shape, x, y, cls) {
  const r = 4;
  switch (shape) {
    case 'square':
      return svg('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r, class: cls });
    case 'diamond':
      return svg('polygon', { points: `${x},${y - r - 1} ${x + r + 1},${y} ${x},${y + r + 1} ${x - r - 1},${y}`, class: cls });
    case 'triangle':
      return svg('polygon', { points: `${x},${y - r - 1} ${x + r + 1},${y + r} ${x - r - 1},${y + r}`, class: cls });
    default:
      return svg('circle', { cx: x, cy: y, r, class: cls });
  }
}

const seriesClass = (s) => `series series-${s.index % COLOURS}`;
const shapeOf = (s) => SHAPES[s.index % SHAPES.length];

/**
 * Draws `backups` (manifests, any order) oldest to newest. Returns the <svg>; a text summary is in its <title> and
 * <desc> for screen readers, and each bar has its own <title>.
 */
export function backupChart(backups, selectedId) {
  // In the order backups were written (their ids, as `list`), not by the clock of the machine that took each.
  const list = [...backups].sort((a, b) => (a.id < b.id ? -1 : 1));
  const series = chartSeries(list);
  const maxSize = Math.max(1, ...list.map((m) => m.sizeBytes));
  const withKeys = list.filter((m) => typeof m.keys === 'number');
  const maxKeys = Math.max(1, ...withKeys.map((m) => m.keys));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / list.length;
  const barW = Math.max(2, Math.min(36, slot * 0.6));
  const slotOf = new Map(list.map((m, i) => [m.id, i]));
  const x = (m) => PAD.left + slot * slotOf.get(m.id) + slot / 2;
  const ySize = (v) => PAD.top + innerH - (v / maxSize) * innerH;
  const yKeys = (v) => PAD.top + innerH - (v / maxKeys) * innerH;

  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', class: 'chart-svg' });
  const first = list[0];
  const last = list[list.length - 1];
  root.append(
    svg('title', { id: 'chart-title' }, 'Backup sizes and key counts over time, per strategy'),
    svg(
      'desc',
      { id: 'chart-desc' },
      `${list.length} backups from ${formatDate(first.createdAt)} to ${formatDate(last.createdAt)}, ` +
        `${series.length} series: ` +
        series.map((s) => `${s.key} (${s.backups.length}, up to ${formatBytes(Math.max(...s.backups.map((m) => m.sizeBytes)))}${s.counts ? `, up to ${formatCount(Math.max(...s.backups.filter((m) => typeof m.keys === 'number').map((m) => m.keys)))} keys` : ''})`).join('; ') +
        '.',
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

  // Bars of every series first, then the lines on top, so no bar hides a line.
  const groups = series.map((s) => svg('g', { class: seriesClass(s), 'data-series': s.key }));
  series.forEach((s, i) => {
    for (const m of s.backups) {
      const y = ySize(m.sizeBytes);
      const bar = svg('rect', { x: x(m) - barW / 2, y, width: barW, height: Math.max(1, PAD.top + innerH - y), rx: 2, class: `bar${m.id === selectedId ? ' selected' : ''}` });
      bar.append(svg('title', {}, `${formatDate(m.createdAt)}: ${m.strategy}, ${formatBytes(m.sizeBytes)}${typeof m.keys === 'number' ? `, ${formatCount(m.keys)} keys` : ''}`));
      groups[i].append(bar);
    }
  });
  series.forEach((s, i) => {
    const counted = s.backups.filter((m) => typeof m.keys === 'number');
    if (counted.length > 1) groups[i].append(svg('polyline', { points: counted.map((m) => `${x(m)},${yKeys(m.keys)}`).join(' '), class: 'keys-line' }));
    for (const m of counted) groups[i].append(marker(shapeOf(s), x(m), yKeys(m.keys), 'keys-dot'));
  });
  root.append(...groups);
  return root;
}

/** The legend under the chart: one entry per series (its colour and marker), and what bars and lines show. */
export function chartLegend(backups) {
  const cap = document.createElement('figcaption');
  cap.className = 'legend';
  const series = chartSeries(backups);
  for (const s of series) {
    const item = document.createElement('span');
    item.className = `legend-item ${seriesClass(s)}`;
    item.dataset.series = s.key;
    const w = s.counts ? 28 : 10;
    const swatch = svg('svg', { viewBox: `0 0 ${w} 12`, width: w, height: 12, 'aria-hidden': 'true', class: 'swatch' });
    swatch.append(svg('rect', { x: 0, y: 1, width: 10, height: 10, rx: 2, class: 'bar' }));
    if (s.counts) swatch.append(svg('line', { x1: 12, x2: 28, y1: 6, y2: 6, class: 'keys-line' }), marker(shapeOf(s), 20, 6, 'keys-dot'));
    item.append(swatch, `${s.key} (${s.backups.length})`);
    cap.append(item);
  }
  const how = document.createElement('span');
  how.className = 'legend-how';
  how.textContent = series.some((s) => s.counts) ? 'bars: stored size (left axis); lines: keys (right axis)' : 'bars: stored size';
  cap.append(how);
  return cap;
}
