import { NotFoundError } from './errors.js';

/** A full backup a chain can start from, as its manifest describes it. */
export interface ChainBase {
  id: string;
  createdAt: string;
  /** The revision the backup holds (etcd.revision of its manifest). */
  revision: number;
}

/** A delta segment, as its manifest describes it. */
export interface ChainSegment {
  id: string;
  createdAt: string;
  /** The id of the full backup the chain starts from. */
  base: string;
  fromRevision: number;
  toRevision: number;
  events: number;
  /** When its first and last change were received (absent when it holds none). */
  firstEventAt?: string;
  lastEventAt?: string;
}

/** A full backup and the segments that continue it. */
export interface Chain<B extends ChainBase = ChainBase, S extends ChainSegment = ChainSegment> {
  base: B;
  /** Its segments by fromRevision. */
  segments: S[];
  /** Every revision from base.revision to coveredTo can be restored: the segments are contiguous up to there. */
  coveredTo: number;
  /** The segments that coveredTo counts (a prefix of `segments`). */
  covered: S[];
  /** What breaks the chain (a gap, a wrong start), in an operator's words; empty when it is whole. */
  problems: string[];
  /**
   * Segments that repeat revisions others hold (two recorders ran at once, as a rolling update of `run` does): their
   * changes are the same etcd history, so a repeat is skipped and an overlap used from where the one before ends.
   */
  notes: string[];
  /** The newest revision any segment of the chain holds, past a gap too (coveredTo when the chain is whole). */
  recordedTo: number;
}

/**
 * Checks that a chain's segments follow each other without gap, the first starting at the base's revision + 1: what
 * `verify <base-id> --chain` reports, besides each segment's own check. Coverage stops before the first problem: a
 * restore never applies changes across a gap. Segments that repeat revisions already held are notes, not problems:
 * one wholly inside what is held is skipped, one that reaches further is used past it (see Chain.notes).
 */
export function validateChain<B extends ChainBase, S extends ChainSegment>(base: B, segments: readonly S[]): Chain<B, S> {
  const sorted = [...segments].sort((a, b) => a.fromRevision - b.fromRevision || a.toRevision - b.toRevision || (a.id < b.id ? -1 : 1));
  const problems: string[] = [];
  const notes: string[] = [];
  const covered: S[] = [];
  let next = base.revision + 1;
  let prev: S | undefined;
  let recordedTo = base.revision;
  for (const s of sorted) {
    let problem: string | undefined;
    let repeats = false;
    if (s.toRevision < s.fromRevision) {
      problem = `segment ${s.id} ends at revision ${s.toRevision}, before its start ${s.fromRevision}`;
    } else if (s.fromRevision <= base.revision) {
      problem = `the ${prev ? '' : 'first '}segment ${s.id} starts at revision ${s.fromRevision}, at or before the base's revision ${base.revision}`;
    } else if (s.fromRevision > next) {
      problem = prev
        ? `revisions ${next}..${s.fromRevision - 1} are missing between segment ${prev.id} (ends at ${prev.toRevision}) and segment ${s.id} (starts at ${s.fromRevision})`
        : `the first segment ${s.id} starts at revision ${s.fromRevision}, not at the base's revision + 1 (${next}): revisions ${next}..${s.fromRevision - 1} are missing`;
    } else if (s.fromRevision < next) {
      repeats = s.toRevision < next;
      notes.push(
        repeats
          ? `segment ${s.id} repeats revisions ${s.fromRevision}..${s.toRevision}, which segment ${prev!.id} holds too (two recorders at once?): skipped`
          : `segment ${s.id} starts at revision ${s.fromRevision}, inside the revisions up to ${next - 1} that segment ${prev!.id} holds (two recorders at once?): used from ${next}`,
      );
    }
    if (problem !== undefined) problems.push(problem);
    else if (problems.length === 0 && !repeats) covered.push(s);
    if (s.toRevision >= s.fromRevision && s.fromRevision > base.revision) {
      recordedTo = Math.max(recordedTo, s.toRevision);
      if (s.toRevision >= next) prev = s;
      next = Math.max(next, s.toRevision + 1);
    }
  }
  const last = covered[covered.length - 1];
  return { base, segments: sorted, covered, coveredTo: last ? last.toRevision : base.revision, problems, notes, recordedTo };
}

/**
 * Groups segments by the full backup they continue: one chain per base (a base without segments is a chain of its
 * own, covering its revision only), newest base first; segments whose base is not among the bases are orphans.
 */
export function buildChains<B extends ChainBase, S extends ChainSegment>(bases: readonly B[], segments: readonly S[]): { chains: Chain<B, S>[]; orphans: S[] } {
  const byBase = new Map<string, S[]>(bases.map((b) => [b.id, []]));
  const orphans: S[] = [];
  for (const s of segments) {
    const list = byBase.get(s.base);
    if (list) list.push(s);
    else orphans.push(s);
  }
  const chains = bases.map((b) => validateChain(b, byBase.get(b.id)!));
  chains.sort(newestBaseFirst);
  return { chains, orphans };
}

function newestBaseFirst(a: Chain, b: Chain): number {
  return b.base.revision - a.base.revision || (a.base.createdAt < b.base.createdAt ? 1 : a.base.createdAt > b.base.createdAt ? -1 : 0) || (a.base.id < b.base.id ? 1 : -1);
}

/** Where a restore goes: the newest state recorded, a revision, or a moment (ms since the epoch). */
export type Target = { kind: 'latest' } | { kind: 'revision'; revision: number } | { kind: 'time'; at: number };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** How far ahead of this machine's clock a time target may be (clocks of machines differ a little). */
const FUTURE_SLACK_MS = 60_000;

/**
 * Parses `--to`: `latest`, a revision, or an RFC 3339 time; throws an Error saying what it should be. A time in the
 * future (past `now` by more than a minute) is refused: nothing was recorded there, and `latest` says so plainly.
 */
export function parseTarget(text: string, now: number = Date.now()): Target {
  const t = text.trim();
  if (t === 'latest') return { kind: 'latest' };
  if (/^\d+$/.test(t)) {
    const revision = Number(t);
    if (!Number.isSafeInteger(revision) || revision < 1) throw new Error(`"${text}" is not a revision etcd could have`);
    return { kind: 'revision', revision };
  }
  // `date '+%F %T'` and kubectl's timestamps without a zone: which zone is the operator's to say, not ours to guess.
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/.test(t)) {
    throw new Error(`"${text}" has no time zone: add Z for UTC (${t.replace(' ', 'T')}Z) or the offset of the zone meant (like +01:00)`);
  }
  const at = RFC3339.test(t) ? Date.parse(t.replace(' ', 'T')) : Number.NaN;
  if (Number.isNaN(at)) throw new Error(`"${text}" is neither "latest", a revision (like 5310) nor an RFC 3339 time (like 2026-11-22T14:05:00Z)`);
  if (at > now + FUTURE_SLACK_MS) throw new Error(`"${text}" is in the future (it is ${new Date(now).toISOString()} here): for the newest state recorded, give "latest"`);
  return { kind: 'time', at };
}

/** How to restore to a target from one chain. */
export interface Resolution<B extends ChainBase = ChainBase, S extends ChainSegment = ChainSegment> {
  chain: Chain<B, S>;
  /** The revision to restore to (for a time that falls inside a segment's changes: the one `scan` refines). */
  revision: number;
  /** The segments whose changes are applied over the base, in order: those that start at or before `revision`. */
  segments: S[];
  /**
   * For a time inside the span of a segment's changes: read that segment and restore to the last revision observed at
   * or before `notAfter` (revisionObservedBy), or `fallback` when it observed none by then.
   */
  scan?: { segment: S; notAfter: number; fallback: number };
  /** When the chain's newest recorded change was received: a time target later than it gets that chain's end. */
  lastObservedAt?: string;
}

/** A target that no chain in the store covers: the message names what the store holds. Exit 1, HTTP 404. */
export class TargetNotRecordedError extends NotFoundError {
  override name = 'TargetNotRecordedError';
}

/** `latest --to`: the store holds no full backup of the kind the restore's form reads (the message names that kind). */
export class NoBaseOfKindError extends TargetNotRecordedError {
  override name = 'NoBaseOfKindError';
  /** `what`: "the store holds no snapshot to restore from"; `reads`: what the form restores and how to restore the rest. */
  constructor(
    readonly what: string,
    reads: string,
  ) {
    super(`${what}: ${reads}`);
  }
}

/**
 * The ways to restore to `target`, best first: from the chain of `baseId` when one is given, else from the newest full
 * backup at or before the target whose chain covers it (then older ones that also do: a snapshot may hold a few
 * revisions more than its manifest says, and a caller that finds its base past the target tries the next). Throws a
 * TargetNotRecordedError naming what the store holds when no chain covers the target.
 */
export function resolveTarget<B extends ChainBase, S extends ChainSegment>(chains: readonly Chain<B, S>[], target: Target, opts: { baseId?: string } = {}): Resolution<B, S>[] {
  // The chains after a base continue it whichever base was asked for: their segments are the same etcd history.
  const all = [...chains].sort(newestBaseFirst);
  let pool = all;
  if (opts.baseId !== undefined) {
    pool = pool.filter((c) => c.base.id === opts.baseId);
    if (pool.length === 0) throw new TargetNotRecordedError(`no full backup "${opts.baseId}" to restore from; ${holdings(chains)}`);
  }
  if (pool.length === 0) throw new TargetNotRecordedError('the store holds no full backup to restore from');
  const out: Resolution<B, S>[] = [];
  if (target.kind === 'latest') {
    const top = Math.max(...pool.map((c) => c.coveredTo));
    // The newest change recorded must be the one restored: never an older state, silently, because of a gap.
    const past = pool.find((c) => c.recordedTo > top);
    if (past !== undefined) {
      throw new TargetNotRecordedError(
        `the newest change recorded is at revision ${past.recordedTo}, but chain ${past.base.id} stops at ${past.coveredTo}: ${past.problems[0] ?? 'a segment is missing'}; the newest state that can be restored is revision ${top} (--to ${top}), or put the missing segment back`,
      );
    }
    for (const c of pool) if (c.coveredTo === top) out.push(atRevision(c, top));
    // Then older bases continued by the chains after them up to there (when the newest base turns out unusable).
    for (const c of pool) {
      const through = c.coveredTo < top ? throughNextChains(c, all, top) : undefined;
      if (through !== undefined) out.push(through);
    }
    return out;
  }
  if (target.kind === 'revision') {
    for (const c of pool) if (c.base.revision <= target.revision && target.revision <= c.coveredTo) out.push(atRevision(c, target.revision));
    // Then chains that reach it through the chains after them (tried when a base turns out to hold more than its
    // manifest says: the revisions between the two are in the next chain's segments).
    for (const c of pool) {
      if (c.base.revision > target.revision || target.revision <= c.coveredTo) continue;
      const through = throughNextChains(c, all, target.revision);
      if (through !== undefined) out.push(through);
    }
    if (out.length > 0) return out;
    throw new TargetNotRecordedError(`no chain of backups covers revision ${target.revision}: ${holdings(pool)}; ${uncovered(pool, target.revision)}`);
  }
  for (const c of pool) {
    if (Date.parse(c.base.createdAt) > target.at) continue;
    const r = atTime(c, target.at);
    if (out.length === 0) assertKnownAt(c, r, pool, target.at);
    out.push(r);
  }
  if (out.length > 0) return out;
  const oldest = pool.reduce((a, b) => (Date.parse(a.base.createdAt) <= Date.parse(b.base.createdAt) ? a : b));
  throw new TargetNotRecordedError(
    `nothing was recorded at or before ${new Date(target.at).toISOString()}: the oldest full backup${opts.baseId !== undefined ? ' asked for' : ''} is ${oldest.base.id}, taken at ${oldest.base.createdAt}; ${holdings(pool)}`,
  );
}

/**
 * Refuses a moment whose state the store cannot know, rather than give an older one: a moment past a gap in the chain
 * (changes were recorded after it but cannot be applied), or a moment after a recording stopped and before the next
 * full backup, when etcd made changes in between that nothing recorded (the next base's revision is past the chain's
 * last one). A chain that never recorded changes is a plain full backup: the moment gets its state, as without
 * continuous backups.
 */
function assertKnownAt(c: Chain, r: Resolution, pool: readonly Chain[], at: number): void {
  const when = new Date(at).toISOString();
  if (r.revision > c.coveredTo || (r.scan !== undefined && r.scan.segment.toRevision > c.coveredTo)) {
    throw new TargetNotRecordedError(
      `the state at ${when} cannot be restored: chain ${c.base.id} holds changes up to revision ${c.recordedTo}, but stops at ${c.coveredTo}: ${c.problems[0] ?? 'a segment is missing'}; revision ${c.coveredTo} (--to ${c.coveredTo}) is the newest state it can restore`,
    );
  }
  if (c.segments.length === 0 || r.scan !== undefined || r.revision < c.recordedTo) return;
  const next = pool
    .filter((n) => Date.parse(n.base.createdAt) > at && n.base.revision > c.recordedTo)
    .sort((a, b) => Date.parse(a.base.createdAt) - Date.parse(b.base.createdAt))[0];
  if (next === undefined) return;
  throw new TargetNotRecordedError(
    `the state at ${when} is not known: revisions ${c.recordedTo + 1}..${next.base.revision} were not recorded (the recording of chain ${c.base.id} stopped after revision ${c.recordedTo}${r.lastObservedAt !== undefined ? `, seen at ${r.lastObservedAt}` : ''}, and full backup ${next.base.id} holds revision ${next.base.revision}, taken at ${next.base.createdAt}); the nearest states recorded are revision ${c.recordedTo} (--to ${c.recordedTo}) and revision ${next.base.revision} (--to ${next.base.revision})`,
  );
}

/**
 * A chain continued by the segments of the chains after it, when each ended at exactly the next one's base revision
 * (the hand-over a recorder makes at every full backup): the same etcd history without a gap, so the older base and
 * all those segments restore any revision up to where they reach. Undefined when they do not reach `revision`.
 */
function throughNextChains<B extends ChainBase, S extends ChainSegment>(c: Chain<B, S>, pool: readonly Chain<B, S>[], revision: number): Resolution<B, S> | undefined {
  const segments = [...c.covered];
  let reached = c.coveredTo;
  const used = new Set([c]);
  while (reached < revision) {
    const next = pool.find((n) => !used.has(n) && n.base.revision === reached && n.coveredTo > reached);
    if (next === undefined) return undefined;
    used.add(next);
    segments.push(...next.covered);
    reached = next.coveredTo;
  }
  return { chain: c, revision, segments: segments.filter((s) => s.fromRevision <= revision) };
}

function atRevision<B extends ChainBase, S extends ChainSegment>(c: Chain<B, S>, revision: number): Resolution<B, S> {
  return { chain: c, revision, segments: c.covered.filter((s) => s.fromRevision <= revision), ...lastObserved(c) };
}

/**
 * The state of a chain at a moment: the last revision it observed at or before it. Segments that hold no changes
 * (a chain closed at a revision) change nothing, so a moment after a segment's last change gets every revision up
 * to the next segment that holds one.
 */
function atTime<B extends ChainBase, S extends ChainSegment>(c: Chain<B, S>, at: number): Resolution<B, S> {
  // Every segment that holds changes, past a gap too: a moment after the gap must be found to be so (assertKnownAt).
  const withChanges = c.segments.filter((s) => s.fromRevision > c.base.revision && s.toRevision >= s.fromRevision && s.events > 0 && s.firstEventAt !== undefined && s.lastEventAt !== undefined);
  let last: S | undefined;
  for (const s of withChanges) if (Date.parse(s.firstEventAt!) <= at) last = s;
  if (last === undefined) {
    // Nothing observed by then: the base, and the empty segments right after it.
    const upTo = withChanges[0] ? withChanges[0].fromRevision - 1 : c.coveredTo;
    return atRevision(c, upTo);
  }
  if (Date.parse(last.lastEventAt!) > at) {
    return { ...atRevision(c, last.toRevision), scan: { segment: last, notAfter: at, fallback: last.fromRevision - 1 } };
  }
  const next = withChanges[withChanges.indexOf(last) + 1];
  return atRevision(c, next ? next.fromRevision - 1 : c.coveredTo);
}

function lastObserved(c: Chain): { lastObservedAt?: string } {
  const withTimes = c.covered.filter((s) => s.lastEventAt !== undefined);
  const last = withTimes[withTimes.length - 1];
  return last ? { lastObservedAt: last.lastEventAt! } : {};
}

/**
 * The revision a segment's changes had reached at `notAfter`: the last change observed at or before it, or `fallback`
 * (the revision before the segment) when none was. Changes are in revision order with observation times that never
 * decrease, so this is the revision of the last change before the first one observed later.
 */
export function revisionObservedBy(events: Iterable<{ modRevision: number; observedAt: number }>, notAfter: number, fallback: number): number {
  let revision = fallback;
  for (const e of events) {
    if (e.observedAt > notAfter) break;
    revision = e.modRevision;
  }
  return revision;
}

const SHOWN = 5;

/** What the store holds, newest chain first: `revisions 1041..5310 (chain X: base at 1041, 12 segments), ...`. */
function holdings(chains: readonly Chain[]): string {
  if (chains.length === 0) return 'the store holds no full backup';
  const sorted = [...chains].sort(newestBaseFirst);
  const shown = sorted.slice(0, SHOWN).map((c) => `${c.base.revision}..${c.coveredTo} (chain ${c.base.id}: base at ${c.base.revision}, ${c.covered.length} segment${c.covered.length === 1 ? '' : 's'})`);
  const more = sorted.length > SHOWN ? `, and ${sorted.length - SHOWN} older chain${sorted.length - SHOWN === 1 ? '' : 's'}` : '';
  return `the store holds revisions ${shown.join(', ')}${more}`;
}

/**
 * Why no chain covers `revision`: before the oldest base, beyond every change recorded, or recorded (or missing) past
 * a gap of a chain, which then says where it stops and the revision it can restore.
 */
function uncovered(pool: readonly Chain[], revision: number): string {
  if (revision < Math.min(...pool.map((c) => c.base.revision))) return `${revision} is before the oldest full backup`;
  const past = pool.find((c) => c.coveredTo < revision && revision <= c.recordedTo);
  if (past === undefined) return `${revision} is beyond what was recorded${brokenNote(pool)}`;
  const held = past.segments.find((s) => s.fromRevision <= revision && revision <= s.toRevision);
  const where = held ? `${revision} was recorded (segment ${held.id} holds revisions ${held.fromRevision}..${held.toRevision}) but lies past a gap` : `${revision} lies in a gap of the recording`;
  return `${where}: chain ${past.base.id} stops at ${past.coveredTo}: ${past.problems[0] ?? 'a segment is missing'}; revision ${past.coveredTo} (--to ${past.coveredTo}) is the newest state before the gap, or put the missing segment back`;
}

function brokenNote(chains: readonly Chain[]): string {
  const broken = chains.find((c) => c.problems.length > 0);
  return broken ? ` (chain ${broken.base.id} stops at ${broken.coveredTo}: ${broken.problems[0]!})` : '';
}
