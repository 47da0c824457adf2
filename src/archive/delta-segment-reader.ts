import type { Readable } from 'node:stream';
import type { DeltaEvent } from '../core/delta-event.js';
import { IntegrityError } from '../core/errors.js';
import { BACKUP_ID_RE } from '../core/naming.js';
import {
  SEGMENT_END_ENTRY,
  SEGMENT_FORMAT,
  SEGMENT_HEADER_ENTRY,
  SEGMENT_VERSION,
  eventEntryNames,
  isIsoTime,
  type EventMeta,
  type SegmentEnd,
  type SegmentHeader,
} from './delta-segment-format.js';
import { MAX_HEADER_BYTES, MAX_META_BYTES, MAX_VALUE_BYTES, keyText } from './key-dump-format.js';
import { hasControlCharacters, printableBytes } from '../core/printable.js';
import { ParserCheck, versionProblem } from './parser-check.js';
import { TarParser, type TarEntry } from './tar.js';
import { streamChunks } from './stream-chunks.js';

export type SegmentItem = { type: 'header'; header: SegmentHeader } | { type: 'event'; event: DeltaEvent } | { type: 'end'; end: SegmentEnd };

/** What the manifest says of a segment, for the reader to hold the artifact to (any field left out is not checked). */
export interface SegmentExpectations {
  cluster?: string;
  base?: string;
  fromRevision?: number;
  toRevision?: number;
  events?: number;
}

function fail(why: string): never {
  throw new IntegrityError('content', `delta segment: ${why}`);
}

const COUNT = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const LEASE_ID = /^[1-9]\d{0,19}$/;

function parseJsonEntry(e: TarEntry): Record<string, unknown> {
  try {
    const v = JSON.parse(e.data.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  return fail(`${e.name} is not a JSON object`);
}

function checkHeader(h: Record<string, unknown>): SegmentHeader {
  const where = SEGMENT_HEADER_ENTRY;
  if (h.format !== SEGMENT_FORMAT) fail(`${where} says format ${JSON.stringify(h.format)}, not ${SEGMENT_FORMAT}`);
  if (h.version !== SEGMENT_VERSION) fail(versionProblem(where, h.version, SEGMENT_VERSION));
  if (typeof h.cluster !== 'string' || h.cluster.length === 0) fail(`${where} names no cluster`);
  if (typeof h.base !== 'string' || !BACKUP_ID_RE.test(h.base)) fail(`${where} names no base backup id`);
  if (!COUNT(h.baseRevision)) fail(`${where} has no baseRevision`);
  if (!COUNT(h.fromRevision) || h.fromRevision <= h.baseRevision) fail(`${where} has no fromRevision after the base revision`);
  if (typeof h.createdAt !== 'string' || Number.isNaN(Date.parse(h.createdAt))) fail(`${where} has no createdAt time`);
  if (h.prefixes !== undefined && (!Array.isArray(h.prefixes) || !h.prefixes.every((p) => typeof p === 'string' && !hasControlCharacters(p)))) fail(`${where} has prefixes that are not printable text`);
  return h as unknown as SegmentHeader;
}

/** Parses and checks a change's JSON line; throws an Error saying what is wrong. */
export function decodeEventMeta(bytes: Buffer, n: number): { meta: EventMeta; key: Buffer } {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`is not JSON (${(err as Error).message})`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('is not a JSON object');
  if (m.n !== n) throw new Error(`says it is change ${JSON.stringify(m.n)}, expected ${n}`);
  if (m.type !== 'put' && m.type !== 'delete') throw new Error('has a "type" that is neither put nor delete');
  if (typeof m.keyBase64 !== 'string' || !BASE64.test(m.keyBase64) || m.keyBase64.length % 4 !== 0) throw new Error('has no valid "keyBase64"');
  const key = Buffer.from(m.keyBase64, 'base64');
  if (key.length === 0) throw new Error('has an empty key');
  if (m.key !== undefined && m.key !== keyText(key)) throw new Error('"key" and "keyBase64" differ');
  for (const f of ['valueSize', 'createRevision', 'modRevision', 'version'] as const) {
    if (!COUNT(m[f])) throw new Error(`field "${f}" is missing or not a count`);
  }
  const [valueSize, createRevision, modRevision, version] = [m.valueSize, m.createRevision, m.modRevision, m.version] as number[];
  if (modRevision! < 1) throw new Error('has no modRevision');
  if (m.type === 'put') {
    if (valueSize! > MAX_VALUE_BYTES) throw new Error(`value of ${valueSize} bytes is more than the ${MAX_VALUE_BYTES} a segment may hold`);
    if (version! < 1 || createRevision! < 1 || createRevision! > modRevision!) throw new Error('is a put whose createRevision, modRevision and version do not fit together');
    if (m.lease !== undefined && (typeof m.lease !== 'string' || !LEASE_ID.test(m.lease))) throw new Error('field "lease" is not a lease id');
    for (const f of ['ttl', 'grantedTtl'] as const) {
      if (m[f] !== undefined && (m.lease === undefined || !COUNT(m[f]))) throw new Error(`field "${f}" is not a count of seconds of its lease`);
    }
  } else if (valueSize !== 0 || createRevision !== 0 || version !== 0 || m.lease !== undefined || m.ttl !== undefined || m.grantedTtl !== undefined) {
    throw new Error('is a delete with a value, a lease, a createRevision or a version');
  }
  if (!isIsoTime(m.observedAt)) throw new Error('has no valid "observedAt" time');
  return { meta: m as unknown as EventMeta, key };
}

/**
 * Checks a delta segment's tar stream entry by entry, strictly in the order reshifter writes it, and hands out the
 * header, each change and the end. Revisions never decrease, stay within the segment's range (fromRevision from the
 * header, toRevision from the end), a key changes at most once per revision, and observation times never go back.
 * `finish` throws unless the segment was whole (end entry present, counts equal, tar end marker). Memory is bounded by
 * the largest entry and the keys of one revision.
 */
export class DeltaSegmentParser {
  header?: SegmentHeader;
  end?: SegmentEnd;
  events = 0;
  private puts = 0;
  private deletes = 0;
  private valueBytes = 0;
  private lastRevision = 0;
  private keysOfRevision = new Set<string>();
  private firstAt?: string;
  private lastAt?: string;
  private pending?: { meta: EventMeta; key: Buffer };
  private readonly tar: TarParser;

  constructor(
    private readonly onItem: (item: SegmentItem) => void,
    private readonly expect: SegmentExpectations = {},
  ) {
    this.tar = new TarParser(
      (e) => this.entry(e),
      (name) => this.maxSize(name),
    );
  }

  write(chunk: Buffer): void {
    this.tar.write(chunk);
  }

  finish(): void {
    if (this.header === undefined) fail(this.tar.offset === 0 ? 'the archive is empty' : `${SEGMENT_HEADER_ENTRY} is missing`);
    if (this.end === undefined) {
      this.tar.end();
      fail(`${SEGMENT_END_ENTRY} is missing after change ${this.events}: the segment was cut short`);
    }
    this.tar.end();
  }

  private maxSize(name: string): number {
    if (this.pending) return this.pending.meta.valueSize;
    return name === SEGMENT_HEADER_ENTRY || name === SEGMENT_END_ENTRY ? MAX_HEADER_BYTES : MAX_META_BYTES;
  }

  private entry(e: TarEntry): void {
    if (this.end) fail(`entry ${e.name} after ${SEGMENT_END_ENTRY}`);
    if (this.header === undefined) return this.takeHeader(e);
    const n = this.events + 1;
    const names = eventEntryNames(n);
    if (this.pending) {
      if (e.name !== names.value) fail(`expected ${names.value}, found ${e.name}`);
      if (e.data.length !== this.pending.meta.valueSize) fail(`${e.name} is ${e.data.length} bytes, its change entry says ${this.pending.meta.valueSize}`);
      const { meta, key } = this.pending;
      this.pending = undefined;
      this.valueBytes += e.data.length;
      return this.emit(meta, key, e.data);
    }
    if (e.name === SEGMENT_END_ENTRY) return this.takeEnd(parseJsonEntry(e));
    if (e.name !== names.meta) fail(`expected ${names.meta} or ${SEGMENT_END_ENTRY}, found ${e.name}`);
    let decoded: { meta: EventMeta; key: Buffer };
    try {
      decoded = decodeEventMeta(e.data, n);
    } catch (err) {
      return fail(`${e.name} ${(err as Error).message}`);
    }
    this.checkOrder(e.name, decoded.meta, decoded.key);
    if (decoded.meta.type === 'put') this.pending = decoded;
    else this.emit(decoded.meta, decoded.key, Buffer.alloc(0));
  }

  private takeHeader(e: TarEntry): void {
    if (e.name !== SEGMENT_HEADER_ENTRY) fail(`the first entry is ${e.name}, not ${SEGMENT_HEADER_ENTRY} (not a reshifter delta segment?)`);
    const h = checkHeader(parseJsonEntry(e));
    const x = this.expect;
    if (x.cluster !== undefined && h.cluster !== x.cluster) fail(`it belongs to cluster "${h.cluster}", its manifest says "${x.cluster}"`);
    if (x.base !== undefined && h.base !== x.base) fail(`it continues backup ${h.base}, its manifest says ${x.base}`);
    if (x.fromRevision !== undefined && h.fromRevision !== x.fromRevision) fail(`it starts at revision ${h.fromRevision}, its manifest says ${x.fromRevision}`);
    this.header = h;
    this.lastRevision = h.fromRevision;
    this.onItem({ type: 'header', header: h });
  }

  private checkOrder(name: string, meta: EventMeta, key: Buffer): void {
    const rev = meta.modRevision;
    if (rev < this.lastRevision) {
      fail(`${name} is at revision ${rev}, ${this.events === 0 ? `before the segment's first revision ${this.lastRevision}` : `after a change at revision ${this.lastRevision}`}`);
    }
    if (rev !== this.lastRevision) this.keysOfRevision.clear();
    const k = key.toString('latin1');
    if (this.keysOfRevision.has(k)) fail(`${name} changes key "${printableBytes(key)}" a second time at revision ${rev}`);
    this.keysOfRevision.add(k);
    this.lastRevision = rev;
    if (this.lastAt !== undefined && meta.observedAt < this.lastAt) fail(`${name} was observed at ${meta.observedAt}, before the change ahead of it (${this.lastAt})`);
    this.firstAt ??= meta.observedAt;
    this.lastAt = meta.observedAt;
  }

  private emit(meta: EventMeta, key: Buffer, value: Buffer): void {
    this.events++;
    if (meta.type === 'put') this.puts++;
    else this.deletes++;
    this.onItem({
      type: 'event',
      event: {
        type: meta.type,
        key,
        value,
        createRevision: meta.createRevision,
        modRevision: meta.modRevision,
        version: meta.version,
        observedAt: Date.parse(meta.observedAt),
        ...(meta.lease !== undefined && { lease: meta.lease }),
        ...(meta.ttl !== undefined && { ttl: meta.ttl }),
        ...(meta.grantedTtl !== undefined && { grantedTtl: meta.grantedTtl }),
      },
    });
  }

  private takeEnd(end: Record<string, unknown>): void {
    const e = end as Partial<SegmentEnd>;
    const counts = `${String(e.events)} changes (${String(e.puts)} puts, ${String(e.deletes)} deletes) / ${String(e.valueBytes)} value bytes`;
    if (e.events !== this.events || e.puts !== this.puts || e.deletes !== this.deletes || e.valueBytes !== this.valueBytes) {
      fail(`${SEGMENT_END_ENTRY} counts ${counts}, the archive holds ${this.events} (${this.puts} puts, ${this.deletes} deletes) / ${this.valueBytes}`);
    }
    const from = this.header!.fromRevision;
    if (e.fromRevision !== from) fail(`${SEGMENT_END_ENTRY} says the segment starts at ${String(e.fromRevision)}, its header at ${from}`);
    if (!COUNT(e.toRevision) || e.toRevision < from) fail(`${SEGMENT_END_ENTRY} has no toRevision at or after ${from}`);
    if (this.events > 0 && e.toRevision < this.lastRevision) fail(`${SEGMENT_END_ENTRY} ends the segment at revision ${e.toRevision}, before its change at ${this.lastRevision}`);
    if (e.firstEventAt !== this.firstAt || e.lastEventAt !== this.lastAt) {
      fail(`${SEGMENT_END_ENTRY} says the changes were observed from ${String(e.firstEventAt)} to ${String(e.lastEventAt)}, they were from ${String(this.firstAt)} to ${String(this.lastAt)}`);
    }
    const x = this.expect;
    if (x.toRevision !== undefined && e.toRevision !== x.toRevision) fail(`it ends at revision ${e.toRevision}, its manifest says ${x.toRevision}`);
    if (x.events !== undefined && e.events !== x.events) fail(`it holds ${e.events} changes, its manifest says ${x.events}`);
    this.end = end as unknown as SegmentEnd;
    this.onItem({ type: 'end', end: this.end });
  }
}

/** The content check `verify` runs on a delta segment: parses the whole archive, passes nothing on. */
export class DeltaSegmentCheck extends ParserCheck {
  constructor(expect: SegmentExpectations = {}) {
    super(new DeltaSegmentParser(() => undefined, expect));
  }
}

/**
 * Reads a delta segment from a byte stream: the header, every change in order, then the end. Pulls input only as fast
 * as the consumer takes items, chunk by chunk as they were pushed (streamChunks: a byte stream's own iterator joins
 * whatever waits into one new buffer, a copy of every byte that passes while the consumer, a restore waiting on etcd,
 * lags; a point-in-time restore of 50k recorded changes peaked ~20-40 MB higher for those copies). Throws an
 * IntegrityError when the segment is damaged or cut short, after the changes before the damage: a consumer that applies
 * changes must not treat a segment as whole before its end item.
 */
export async function* readDeltaSegment(stream: Readable, expect: SegmentExpectations = {}): AsyncGenerator<SegmentItem> {
  let items: SegmentItem[] = [];
  const parser = new DeltaSegmentParser((item) => items.push(item), expect);
  try {
    for await (const chunk of streamChunks(stream)) {
      parser.write(chunk);
      if (items.length > 0) {
        const out = items;
        items = [];
        yield* out;
      }
    }
    parser.finish();
    yield* items;
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}
