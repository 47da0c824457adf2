/**
 * Where each live user key's current revision is stored: page id, element index, page span and value size, in
 * typed arrays indexed by a slot per key. Only the key itself is held as a string; slots of deleted keys are
 * reused, so memory follows the number of live keys, never the values.
 */
export class KeyLocations {
  private readonly slots = new Map<string, number>();
  private pgids = new Float64Array(1024);
  private indexes = new Uint16Array(1024);
  private spans = new Uint32Array(1024);
  private sizes = new Uint32Array(1024);
  private used = 0;
  private readonly free: number[] = [];

  get size(): number {
    return this.slots.size;
  }

  /** Records `name`'s newest revision: element `index` of page `pgid` (0: the inline bucket). */
  set(name: string, pgid: number, index: number, span: number, valueSize: number): void {
    let slot = this.slots.get(name);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.grow();
      this.slots.set(name, slot);
    }
    this.pgids[slot] = pgid;
    this.indexes[slot] = index;
    this.spans[slot] = span;
    this.sizes[slot] = Math.min(valueSize, 0xffffffff);
  }

  delete(name: string): void {
    const slot = this.slots.get(name);
    if (slot === undefined) return;
    this.slots.delete(name);
    this.free.push(slot);
  }

  /** The keys, in byte order (latin1 strings compare by byte). */
  sortedNames(): string[] {
    return [...this.slots.keys()].sort();
  }

  slotOf(name: string): number {
    return this.slots.get(name) as number;
  }

  pgid(slot: number): number {
    return this.pgids[slot]!;
  }

  index(slot: number): number {
    return this.indexes[slot]!;
  }

  span(slot: number): number {
    return this.spans[slot]!;
  }

  valueSize(slot: number): number {
    return this.sizes[slot]!;
  }

  private grow(): number {
    if (this.used === this.pgids.length) {
      const n = this.used * 2;
      this.pgids = copyInto(new Float64Array(n), this.pgids);
      this.indexes = copyInto(new Uint16Array(n), this.indexes);
      this.spans = copyInto(new Uint32Array(n), this.spans);
      this.sizes = copyInto(new Uint32Array(n), this.sizes);
    }
    return this.used++;
  }
}

function copyInto<T extends Float64Array | Uint32Array | Uint16Array>(to: T, from: T): T {
  to.set(from);
  return to;
}
