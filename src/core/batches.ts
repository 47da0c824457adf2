/**
 * Groups items into batches of at most `maxItems` and at most `maxBytes` (an item bigger than `maxBytes` makes a
 * batch of its own). etcd refuses transactions over `--max-txn-ops` (128) operations or `--max-request-bytes`
 * (1.5 MiB), so restores cap both.
 */
export class Batcher<T> {
  private items: T[] = [];
  private bytes = 0;

  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {
    if (maxItems < 1 || maxBytes < 1) throw new RangeError('a batch must allow at least one item and one byte');
  }

  /** Adds an item; returns the batch it completed, if adding it closed one. */
  add(item: T): T[] | undefined {
    const size = this.sizeOf(item);
    let full: T[] | undefined;
    if (this.items.length > 0 && (this.items.length >= this.maxItems || this.bytes + size > this.maxBytes)) full = this.take();
    this.items.push(item);
    this.bytes += size;
    return full;
  }

  /** The batch being filled, if it has anything. */
  flush(): T[] | undefined {
    return this.items.length > 0 ? this.take() : undefined;
  }

  private take(): T[] {
    const out = this.items;
    this.items = [];
    this.bytes = 0;
    return out;
  }
}
