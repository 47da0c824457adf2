import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Sample } from './run-scrape.js';

/** A selector in a PromQL expression: a metric name and its label matchers. */
export interface Selector {
  name: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/**
 * The metric selectors of an expression: every `name` or `name{...}` that is not a function call, keyword or a
 * label list of by/without/on/ignoring. Good for the expressions this project writes (no braces inside label
 * values); not a full PromQL parser: promtool checks the syntax.
 */
export function selectorsOf(expr: string): Selector[] {
  const src = expr;
  const aggregations = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const out: Selector[] = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src)) !== null) {
    const [, name, braces] = m;
    const before = src.slice(0, m.index);
    const after = src.slice(m.index + m[0].length);
    if (/[0-9.]$/.test(before) || /\[[^\]]*$/.test(before)) continue; // a number's exponent or a range duration
    if (keywords.has(name!.toLowerCase())) {
      if (['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(name!.toLowerCase())) re.lastIndex = skipParens(src, re.lastIndex);
      continue;
    }
    if (!braces && after.trimStart().startsWith('(')) continue; // a function call
    if (!braces && aggregations.has(name!) && /^\s*(by|without)\b/.test(after)) continue; // sum by (...) (...)
    const matchers = [...(braces ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }));
    out.push({ name: name!, matchers });
  }
  return out;
}

/** The label names an expression groups or matches by (`by (a, b)`, `on (c)` ...). */
export function groupingLabelsOf(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  );
}

/** Labels the target gives, not the page: a `run`'s job and instance; a Pushgateway group's cluster and backup_strategy. */
export const TARGET_LABELS = new Set(['job', 'instance', 'cluster', 'backup_strategy']);

/**
 * Problems with the selectors of `expr` measured against a real scrape: a metric the page does not have (unless
 * `allowMissing` says it is expected to be absent, or it is `recorded` by a rule), a matcher on a label the metric
 * does not carry, an equality matcher on a value the page never shows.
 */
export function checkAgainstScrape(expr: string, samples: Sample[], opts: { recorded?: Set<string>; allowMissing?: (name: string) => boolean } = {}): string[] {
  const problems: string[] = [];
  for (const sel of selectorsOf(expr)) {
    if (opts.recorded?.has(sel.name)) continue;
    const of = samples.filter((s) => s.name === sel.name);
    if (of.length === 0) {
      if (!opts.allowMissing?.(sel.name)) problems.push(`${sel.name} is not in the scrape`);
      continue;
    }
    for (const mt of sel.matchers) {
      if (TARGET_LABELS.has(mt.label)) continue;
      const values = new Set(of.filter((s) => mt.label in s.labels).map((s) => s.labels[mt.label]!));
      if (values.size === 0) problems.push(`${sel.name} has no label ${mt.label}`);
      else if (mt.op === '=' && !values.has(mt.value)) problems.push(`${sel.name}{${mt.label}="${mt.value}"} matches nothing in the scrape (${[...values].join(', ')})`);
    }
  }
  for (const label of groupingLabelsOf(expr)) {
    if (label === 'le' || TARGET_LABELS.has(label)) continue;
    const names = selectorsOf(expr).map((s) => s.name).filter((n) => samples.some((s) => s.name === n));
    if (names.length > 0 && !samples.some((s) => names.includes(s.name) && label in s.labels)) problems.push(`no metric of "${expr}" has the label ${label}`);
  }
  return problems;
}

/** Runs promtool with `args`, the files in `files` written to a private directory first; returns its output. */
export function promtool(args: (dir: string) => string[], files: Record<string, unknown>): { code: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rs-promtool-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === 'string' ? content : stringify(content));
    try {
      const output = execFileSync('promtool', args(dir), { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return { code: 0, output };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { status?: number; stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') throw new Error("promtool is not installed: run scripts/install-deps.sh (Debian's prometheus package)");
      return { code: e.status ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function skipParens(src: string, from: number): number {
  const open = src.indexOf('(', from);
  if (open < 0 || src.slice(from, open).trim() !== '') return from;
  const close = src.indexOf(')', open);
  return close < 0 ? from : close + 1;
}
