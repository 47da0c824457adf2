import { isOpenEnd, keySpacing, keyWindowEnd, type KeyRange, type KeySpacing } from './key-ranges.js';

/** Empty windows in a row (each 16 times wider) before a gap is crossed with one request to the range's end. */
const MAX_EMPTY_WINDOWS = 6;

/**
 * Where the next page request of one key range goes: [from, end). A range request with a limit makes etcd walk its
 * index over the whole range asked for, to count it (3.4 and 3.5 alike), so paging through N keys unbounded costs
 * O(N^2 / page): for 100k keys in 340-key pages, 6.6 s of etcd CPU instead of 1.6 s. So each request ends at a window
 * guessed to hold `windowKeys` keys, from how far apart the keys read lately lay. Any guess is correct (windows are
 * contiguous), a good one only makes it cheap. The spacing is taken over at least a window's worth of keys, not over
 * the last page alone: a page of a few dozen keys of one namespace says nothing of the next namespace's names, and
 * windows aimed from it came out empty at every namespace.
 */
export class RangeCursor {
  /** The first key of the next request. */
  from: Buffer;
  /** True once the range has been read to its end. */
  done = false;
  private windowEnd: Buffer | undefined;
  private spacing: KeySpacing | undefined;
  /** First keys of recent pages and how many keys of the range came before each: the base of the spacing. */
  private anchors: Array<{ key: Buffer; index: number }> = [];
  private seen = 0;
  /** Grows the next window while windows come out short of a page (a gap in the keys), back to 1 after a full page. */
  private scale = 1;
  private emptyWindows = 0;

  constructor(private readonly range: KeyRange) {
    this.from = range.start;
  }

  /** The end of the next request: the window's, or the range's while no window is set. */
  get end(): Buffer {
    return this.windowEnd ?? this.range.end;
  }

  /** Moves past a reply: its keys (in order) and etcd's `more`; windows are aimed at `windowKeys` keys. */
  advance(keys: readonly Buffer[], more: boolean, windowKeys: number): void {
    if (keys.length > 0) this.learn(keys, windowKeys);
    if (more && keys.length > 0) {
      // A full page: on after its last key (key + "\0" is the smallest key greater than it), in a window aimed afresh,
      // never wider than the one it was in.
      this.from = Buffer.concat([keys[keys.length - 1]!, Buffer.from([0])]);
      this.scale = 1;
      this.emptyWindows = 0;
      const next = this.nextWindow(windowKeys);
      if (next !== undefined && (this.windowEnd === undefined || Buffer.compare(next, this.windowEnd) < 0)) this.windowEnd = next;
      return;
    }
    if (this.windowEnd === undefined) {
      this.done = true;
      return;
    }
    // The window held less than a page: the next one starts at its end, wider. After several empty ones (a gap: the
    // end of a resource type), one request to the range's end finds the next key and a new spacing.
    this.emptyWindows = keys.length === 0 ? this.emptyWindows + 1 : 0;
    this.scale *= keys.length === 0 ? 16 : 2;
    this.from = this.windowEnd;
    this.windowEnd = this.emptyWindows > MAX_EMPTY_WINDOWS ? undefined : this.nextWindow(windowKeys);
    if (this.windowEnd === undefined) this.emptyWindows = 0;
  }

  /** Keeps the newest anchor with at least a window's worth of keys since, and the spacing from it to the last key. */
  private learn(keys: readonly Buffer[], windowKeys: number): void {
    // A copy: the key is a view of the whole reply, which it would keep alive.
    this.anchors.push({ key: Buffer.from(keys[0]!), index: this.seen });
    this.seen += keys.length;
    while (this.anchors.length > 1 && this.seen - this.anchors[1]!.index >= windowKeys) this.anchors.shift();
    const base = this.anchors[0]!;
    this.spacing = keySpacing(base.key, keys[keys.length - 1]!, this.seen - base.index) ?? this.spacing;
  }

  private nextWindow(windowKeys: number): Buffer | undefined {
    if (this.spacing === undefined) return undefined;
    const end = keyWindowEnd(this.from, this.spacing, windowKeys * this.scale);
    return end !== undefined && (isOpenEnd(this.range.end) || Buffer.compare(end, this.range.end) < 0) ? end : undefined;
  }
}
