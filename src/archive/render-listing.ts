import type { Readable } from 'node:stream';
import { IntegrityError } from '../core/errors.js';
import type { AuditRow } from '../kube/audit-row.js';
import { ParserCheck, versionProblem } from './parser-check.js';

/**
 * The `render` strategy's artifact: the audit listing as JSON lines, one object per key (see AuditRow), each line
 * ending in a newline. `zstd -dc <id>.render.jsonl.zst | jq` reads it (`zcat` a `.gz` one).
 */
const MAX_LINE = 16 * 1024 * 1024;

/**
 * The version of the listing's rows, in each row as `listingVersion`: a reshifter that changes what a row means
 * writes a higher one, which this build refuses as a newer reshifter's rather than report the rows as damage. A field
 * and not a first line of its own, so that readers from before it (which ignore fields they do not know) still read
 * the rows; a row without it (every listing written before it) is version 1.
 */
export const RENDER_LISTING_VERSION = 1;

/** One row as its line, with the listing's version. */
export function renderLine(row: AuditRow): string {
  return `${JSON.stringify(row).slice(0, -1)},"listingVersion":${RENDER_LISTING_VERSION}}\n`;
}

function parseRow(line: Buffer, n: number): AuditRow {
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    /* reported below */
  }
  const r = v as (Partial<AuditRow> & { listingVersion?: unknown }) | undefined;
  // Before its shape: a newer reshifter's row may have another.
  if (typeof r === 'object' && r !== null && r.listingVersion !== undefined && r.listingVersion !== RENDER_LISTING_VERSION) {
    throw new IntegrityError('content', `render listing: ${versionProblem(`line ${n}`, r.listingVersion, RENDER_LISTING_VERSION)}`);
  }
  if (typeof r !== 'object' || r === null || typeof r.key !== 'string' || typeof r.size !== 'number' || typeof r.encoding !== 'string') {
    throw new IntegrityError('content', `render listing, line ${n}: not a listing row`);
  }
  const { listingVersion: _version, ...row } = r;
  return row as AuditRow;
}

/** Splits a byte stream into lines with a bounded line length; calls `onLine` for each complete line. */
class LineSplitter {
  private carry: Buffer[] = [];
  private carried = 0;
  lines = 0;

  constructor(private readonly onLine: (line: Buffer, n: number) => void) {}

  write(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.carried > 0 ? Buffer.concat([...this.carry, piece]) : piece;
      this.carry = [];
      this.carried = 0;
      this.onLine(line, ++this.lines);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.carried += chunk.length - start;
      if (this.carried > MAX_LINE) throw new IntegrityError('content', `render listing, line ${this.lines + 1}: longer than ${MAX_LINE} bytes`);
      this.carry.push(Buffer.from(chunk.subarray(start)));
    }
  }

  end(): void {
    if (this.carried > 0) throw new IntegrityError('content', `render listing: the last line (${this.lines + 1}) is cut short`);
  }
}

/** The content check `verify` runs on render listings: every line is a row, and the last one is complete. */
export class RenderListingCheck extends ParserCheck {
  constructor() {
    const lines = new LineSplitter((line, n) => void parseRow(line, n));
    super({ write: (chunk) => lines.write(chunk), finish: () => lines.end() });
  }
}

/** Reads the rows of a render listing in order; throws an IntegrityError on a damaged line. */
export async function* readRenderListing(stream: Readable): AsyncGenerator<AuditRow> {
  let rows: AuditRow[] = [];
  const lines = new LineSplitter((line, n) => rows.push(parseRow(line, n)));
  try {
    for await (const chunk of stream) {
      lines.write(chunk as Buffer);
      const out = rows;
      rows = [];
      yield* out;
    }
    lines.end();
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}
