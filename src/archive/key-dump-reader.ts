import type { Readable } from 'node:stream';
import { IntegrityError } from '../core/errors.js';
import { hasControlCharacters, printable, printableBytes } from '../core/printable.js';
import type { KeyRecord } from '../core/key-record.js';
import {
  DUMP_FORMAT,
  DUMP_VERSION,
  END_ENTRY,
  HEADER_ENTRY,
  MAX_HEADER_BYTES,
  MAX_META_BYTES,
  decodeKeyMeta,
  isKeyEntryName,
  keyEntryNames,
  type DumpEnd,
  type DumpHeader,
} from './key-dump-format.js';
import type { KeyFacts } from './key-meta-line.js';
import { ParserCheck, versionProblem } from './parser-check.js';
import { streamChunks } from './stream-chunks.js';
import { TarParser, type TarEntry } from './tar.js';

export type DumpItem = { type: 'header'; header: DumpHeader } | { type: 'key'; record: KeyRecord };

function fail(why: string): never {
  throw new IntegrityError('content', `key dump: ${why}`);
}

function parseJsonEntry(e: TarEntry): Record<string, unknown> {
  try {
    const v = JSON.parse(e.data.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  return fail(`${e.name} is not a JSON object`);
}

function checkHeader(h: Record<string, unknown>): DumpHeader {
  if (h.format !== DUMP_FORMAT) fail(`${HEADER_ENTRY} says format ${JSON.stringify(h.format)}, not ${DUMP_FORMAT}`);
  if (h.version !== DUMP_VERSION) fail(versionProblem(HEADER_ENTRY, h.version, DUMP_VERSION));
  if (h.apiVersion !== 'v2' && h.apiVersion !== 'v3') fail(`${HEADER_ENTRY} has no apiVersion v2 or v3`);
  if (typeof h.revision !== 'number' || !Number.isSafeInteger(h.revision) || h.revision < 0) fail(`${HEADER_ENTRY} has no revision`);
  // Its prefixes and filters are printed (diff's note) and decide which keys a restore and a diff take: anyone who can
  // write the store can write a header, so a malformed one is a damaged dump, never a crash or a terminal's input.
  if (!isTextList(h.prefixes)) fail(`${HEADER_ENTRY} has no prefixes, or one that is not printable text`);
  if (typeof h.etcdVersion !== 'string' || hasControlCharacters(h.etcdVersion)) fail(`${HEADER_ENTRY} has no etcdVersion`);
  if (h.selection !== undefined && !isSelection(h.selection)) fail(`${HEADER_ENTRY} has a "selection" that is not the filters a key dump records`);
  return h as unknown as DumpHeader;
}

/**
 * What the keys under `prefixes` start with, as a dump reads them (etcd/key-ranges.ts): `/registry` covers
 * `/registry/...`, `/` every key (`compact_rev_key` too: undefined).
 */
function keyStartsOf(prefixes: readonly string[]): Buffer[] | undefined {
  const list = prefixes.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p)).filter((p) => p.length > 0);
  if (list.includes('/')) return undefined;
  return list.map((p) => Buffer.from(`${p}/`, 'utf8'));
}

/** A list of strings without control characters. */
function isTextList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string' && !hasControlCharacters(s));
}

/** The `selection` reshifter writes: lists of names, resourceSets a list of them. */
function isSelection(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const s = v as Record<string, unknown>;
  const sets = s.resourceSets;
  return Array.isArray(sets) && sets.every(isTextList) && isTextList(s.excludeResources) && isTextList(s.includeNamespaces) && isTextList(s.excludeNamespaces);
}

/**
 * Checks a key dump's tar stream entry by entry, strictly in the order reshifter writes it, and hands out the header
 * and each key. `finish` throws unless the dump was whole (end entry present, counts equal, tar end marker).
 */
export class KeyDumpParser {
  header?: DumpHeader;
  keys = 0;
  valueBytes = 0;
  private pending?: { meta: KeyFacts; key: Buffer };
  private ended = false;
  /** What every key a dump holds starts with, by its header's prefixes (undefined: any key, the prefix `/`). */
  private keyStarts: Buffer[] | undefined = [];
  private readonly tar: TarParser;

  constructor(private readonly onItem: (item: DumpItem) => void) {
    this.tar = new TarParser(
      (e) => this.entry(e),
      (name) => this.maxSize(name),
    );
  }

  write(chunk: Buffer): void {
    this.tar.write(chunk);
  }

  finish(): void {
    if (this.header === undefined) fail(this.tar.offset === 0 ? 'the archive is empty' : `${HEADER_ENTRY} is missing`);
    if (!this.ended) {
      this.tar.end();
      fail(`${END_ENTRY} is missing after key ${this.keys}: the dump was cut short`);
    }
    this.tar.end();
  }

  private maxSize(name: string): number {
    if (this.pending) return this.pending.meta.valueSize;
    return name === HEADER_ENTRY || name === END_ENTRY ? MAX_HEADER_BYTES : MAX_META_BYTES;
  }

  private entry(e: TarEntry): void {
    if (this.ended) fail(`entry ${e.name} after ${END_ENTRY}`);
    if (this.header === undefined) {
      if (e.name !== HEADER_ENTRY) fail(`the first entry is ${e.name}, not ${HEADER_ENTRY} (not a reshifter key dump?)`);
      this.header = checkHeader(parseJsonEntry(e));
      this.keyStarts = keyStartsOf(this.header.prefixes);
      this.onItem({ type: 'header', header: this.header });
      return;
    }
    const n = this.keys + 1;
    if (this.pending) {
      if (!isKeyEntryName(e.name, n, '.value')) fail(`expected ${keyEntryNames(n).value}, found ${e.name}`);
      if (e.data.length !== this.pending.meta.valueSize) fail(`${e.name} is ${e.data.length} bytes, its key entry says ${this.pending.meta.valueSize}`);
      const { meta, key } = this.pending;
      this.pending = undefined;
      this.keys = n;
      this.valueBytes += e.data.length;
      this.onItem({
        type: 'key',
        record: {
          key,
          value: e.data,
          createRevision: meta.createRevision,
          modRevision: meta.modRevision,
          version: meta.version,
          ...(meta.lease !== undefined && { lease: meta.lease }),
          ...(meta.ttl !== undefined && { ttl: meta.ttl }),
        },
      });
      return;
    }
    if (e.name === END_ENTRY) {
      const end = parseJsonEntry(e) as Partial<DumpEnd>;
      if (end.keys !== this.keys || end.valueBytes !== this.valueBytes) {
        fail(`${END_ENTRY} counts ${String(end.keys)} keys / ${String(end.valueBytes)} value bytes, the archive holds ${this.keys} / ${this.valueBytes}`);
      }
      this.ended = true;
      return;
    }
    if (!isKeyEntryName(e.name, n, '.json')) fail(`expected ${keyEntryNames(n).meta} or ${END_ENTRY}, found ${e.name}`);
    try {
      this.pending = decodeKeyMeta(e.data, n);
    } catch (err) {
      fail(`${e.name} ${(err as Error).message}`);
    }
    // A dump holds the keys under its prefixes only: one beyond them (written into the archive by whoever can write
    // the store) would be restored into etcd where no backup of it was taken.
    const { key } = this.pending;
    if (this.keyStarts !== undefined && !this.keyStarts.some((p) => key.length > p.length && key.subarray(0, p.length).equals(p))) {
      fail(`${e.name} holds key ${printableBytes(key)}, outside the prefixes its header names (${this.header.prefixes.map(printable).join(', ')})`);
    }
  }
}

/** The content check `verify` runs on key dumps: parses the whole archive, passes nothing on. */
export class KeyDumpCheck extends ParserCheck {
  constructor() {
    super(new KeyDumpParser(() => undefined));
  }
}

/**
 * Reads a key dump from a byte stream: the header first, then every key in order. Pulls input only as fast as the
 * consumer takes items, so memory stays at about one input chunk of keys plus the largest value. Throws an
 * IntegrityError when the dump is damaged or cut short, after the keys before the damage.
 */
export async function* readKeyDump(stream: Readable): AsyncGenerator<DumpItem> {
  for await (const batch of readKeyDumpBatches(stream)) yield* batch;
}

/**
 * readKeyDump's items as they come, a batch per input chunk that held any (the header is the first item of the
 * first): one await per chunk rather than one per key, for the restore that reads a dump at etcd's pace.
 */
export async function* readKeyDumpBatches(stream: Readable): AsyncGenerator<DumpItem[]> {
  let items: DumpItem[] = [];
  const parser = new KeyDumpParser((item) => items.push(item));
  try {
    for await (const chunk of streamChunks(stream)) {
      parser.write(chunk);
      if (items.length > 0) {
        const out = items;
        items = [];
        yield out;
      }
    }
    parser.finish();
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}
