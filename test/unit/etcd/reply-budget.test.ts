import { describe, expect, it } from 'vitest';
import { MAX_REPLY_BYTES } from '../../../src/etcd/client.js';
import { LARGEST_KEY_VALUE_BYTES, SAFE_KEYS_PER_REPLY, isReplyTooLarge } from '../../../src/etcd/reply-budget.js';

describe('reply budget', () => {
  it('asks for no more keys than a reply can hold at the largest value etcd accepts by default', () => {
    expect(SAFE_KEYS_PER_REPLY).toBe(42);
    expect(SAFE_KEYS_PER_REPLY * LARGEST_KEY_VALUE_BYTES).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect((SAFE_KEYS_PER_REPLY + 1) * LARGEST_KEY_VALUE_BYTES).toBeGreaterThan(MAX_REPLY_BYTES);
  });

  it('tells a reply too large from etcd throttling or a full database', () => {
    expect(isReplyTooLarge(new Error('8 RESOURCE_EXHAUSTED: Received message larger than max (128010783 vs 67108864)'))).toBe(true);
    expect(isReplyTooLarge(new Error('8 RESOURCE_EXHAUSTED: etcdserver: too many requests'))).toBe(false);
    expect(isReplyTooLarge(new Error('8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded'))).toBe(false);
    expect(isReplyTooLarge(new Error('14 UNAVAILABLE: Connection dropped'))).toBe(false);
  });
});
