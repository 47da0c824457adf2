import { Readable } from 'node:stream';
import type { DeltaEvent } from '../core/delta-event.js';
import {
  SEGMENT_END_ENTRY,
  SEGMENT_FORMAT,
  SEGMENT_HEADER_ENTRY,
  SEGMENT_VERSION,
  eventEntryNames,
  eventMetaLine,
  type SegmentEnd,
  type SegmentHeader,
} from './delta-segment-format.js';
import { BLOCK, TarHeaderWriter, tarEnd, tarEntry, tarPadded } from './tar.js';

/** What a segment's header says, without the constant fields. */
export type SegmentStart = Omit<SegmentHeader, 'format' | 'version'>;

/**
 * Turns a segment's header, changes and end into tar bytes (see delta-segment-format.ts); each call returns whole
 * entries. Refuses changes out of revision order or outside the segment's range: a segment that says it covers a
 * range holds exactly that range's changes, in order.
 */
export class DeltaSegmentWriter {
  events = 0;
  puts = 0;
  deletes = 0;
  valueBytes = 0;
  firstEventAt?: number;
  lastEventAt?: number;
  private lastRevision: number;
  private readonly mtime: number;
  private readonly headers: TarHeaderWriter;

  constructor(private readonly start: SegmentStart) {
    this.mtime = Math.floor(Date.parse(start.createdAt) / 1000);
    this.headers = new TarHeaderWriter(this.mtime);
    this.lastRevision = start.fromRevision - 1;
  }

  header(): Buffer {
    const h: SegmentHeader = { format: SEGMENT_FORMAT, version: SEGMENT_VERSION, ...this.start };
    return Buffer.concat(tarEntry(SEGMENT_HEADER_ENTRY, Buffer.from(`${JSON.stringify(h, null, 2)}\n`), this.mtime));
  }

  /** Entries of a run of changes, as one buffer (one allocation, as the key dump writer does for a page). */
  eventsOf(events: readonly DeltaEvent[]): Buffer {
    const lines: string[] = [];
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.modRevision < this.lastRevision) throw new RangeError(`change at revision ${e.modRevision} after one at ${this.lastRevision}: out of order`);
      if (e.type === 'delete' && e.value.length > 0) throw new RangeError(`the delete at revision ${e.modRevision} has a value`);
      this.lastRevision = e.modRevision;
      lines.push(eventMetaLine(this.events + i + 1, e));
      total += BLOCK + tarPadded(Buffer.byteLength(lines[i]!)) + (e.type === 'put' ? BLOCK + tarPadded(e.value.length) : 0);
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const names = eventEntryNames(++this.events);
      const lineBytes = out.write(lines[i]!, at + BLOCK, 'utf8');
      this.headers.write(out, at, names.meta, lineBytes);
      at = zeroPad(out, at + BLOCK + lineBytes);
      if (e.type === 'put') {
        this.puts++;
        this.valueBytes += e.value.length;
        this.headers.write(out, at, names.value, e.value.length);
        e.value.copy(out, at + BLOCK);
        at = zeroPad(out, at + BLOCK + e.value.length);
      } else {
        this.deletes++;
      }
      this.firstEventAt ??= e.observedAt;
      this.lastEventAt = e.observedAt;
    }
    return out;
  }

  /** The end entry (the segment covers fromRevision..toRevision) and tar's end-of-archive marker. */
  end(toRevision: number): Buffer {
    if (toRevision < this.lastRevision || toRevision < this.start.fromRevision) {
      throw new RangeError(`a segment from revision ${this.start.fromRevision} holding changes up to ${this.lastRevision} cannot end at ${toRevision}`);
    }
    const end: SegmentEnd = {
      events: this.events,
      puts: this.puts,
      deletes: this.deletes,
      valueBytes: this.valueBytes,
      fromRevision: this.start.fromRevision,
      toRevision,
      ...(this.firstEventAt !== undefined && { firstEventAt: new Date(this.firstEventAt).toISOString() }),
      ...(this.lastEventAt !== undefined && { lastEventAt: new Date(this.lastEventAt).toISOString() }),
    };
    return Buffer.concat([...tarEntry(SEGMENT_END_ENTRY, Buffer.from(`${JSON.stringify(end)}\n`), this.mtime), tarEnd()]);
  }
}

/** Changes per buffer handed on: a few hundred KiB of entries at a time, never the whole segment in one piece. */
const EVENTS_PER_CHUNK = 256;

/** A whole segment as a byte stream (back-pressure from its reader). The writer's counts are final once it has ended. */
export function segmentStream(writer: DeltaSegmentWriter, events: readonly DeltaEvent[], toRevision: number): Readable {
  function* chunks(): Generator<Buffer> {
    yield writer.header();
    for (let i = 0; i < events.length; i += EVENTS_PER_CHUNK) yield writer.eventsOf(events.slice(i, i + EVENTS_PER_CHUNK));
    yield writer.end(toRevision);
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** Zeroes `buf` from `end` up to the next block boundary; returns that boundary. */
function zeroPad(buf: Buffer, end: number): number {
  const next = tarPadded(end);
  if (next > end) buf.fill(0, end, next);
  return next;
}
