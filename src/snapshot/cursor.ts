import type { BoltFile } from './bolt-file.js';
import type { BucketRoot } from './bucket.js';
import { leafNodes } from './tree-walk.js';

/** One element of a bucket: a key and value, or a key whose value is a nested bucket's header. */
export interface BucketEntry {
  key: Buffer;
  value: Buffer;
  isBucket: boolean;
}

/** Yields a bucket's elements in key order. Keys and values are views into cached pages: copy what you keep. */
export async function* bucketEntries(file: BoltFile, bucket: BucketRoot): AsyncGenerator<BucketEntry> {
  for await (const leaf of leafNodes(file, bucket)) {
    for (let i = 0; i < leaf.count; i++) {
      yield { key: leaf.key(i), value: leaf.value(i), isBucket: leaf.isBucket(i) };
    }
  }
}
