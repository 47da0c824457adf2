import { GRPCDeadlineExceededError, GRPCOutOfRangeError, GRPCResourceExhastedError, GRPCUnavailableError, EtcdPermissionDeniedError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { AbortedError } from '../../../src/core/errors.js';
import { attemptsBehind, faultHandling, isTransient } from '../../../src/etcd/fault-handling.js';
import { EtcdInterruptedError, interruptibleBy } from '../../../src/etcd/interrupt.js';

const CONTEXT = { isStream: false, service: 'KV', method: 'range', params: {} } as const;

describe('etcd fault handling', () => {
  it('retries what the cluster or the connection caused, never what the request did', () => {
    expect(isTransient(new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'))).toBe(true);
    expect(isTransient(new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: leader changed'))).toBe(true);
    expect(isTransient(new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: etcdserver: too many requests'))).toBe(true);
    expect(isTransient(new GRPCOutOfRangeError('11 OUT_OF_RANGE: etcdserver: mvcc: required revision is a future revision'))).toBe(true);
    expect(isTransient(new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: Received message larger than max (128010783 vs 67108864)'))).toBe(false);
    expect(isTransient(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'))).toBe(false);
    expect(isTransient(new GRPCOutOfRangeError('11 OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted'))).toBe(false);
    expect(isTransient(new EtcdPermissionDeniedError('etcdserver: permission denied'))).toBe(false);
    expect(isTransient(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate'))).toBe(false);
  });

  it('passes a size error through at once, unchanged (no breaker, no retry)', async () => {
    const { faultHandling: policies } = faultHandling(5_000);
    const tooBig = new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: Received message larger than max (128010783 vs 67108864)');
    let attempts = 0;
    for (let i = 0; i < 5; i++) {
      await expect(policies!.global!.execute(() => {
        attempts++;
        throw tooBig;
      })).rejects.toBe(tooBig);
    }
    expect(attempts).toBe(5);
  });

  it('gives every attempt of a call the deadline of the call, and stops retrying at it', async () => {
    const { faultHandling: policies, defaultCallOptions } = faultHandling(600);
    const deadlines: number[] = [];
    const started = Date.now();
    const refused = new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED');
    const err = await policies!.global!.execute(() => {
      const opts = typeof defaultCallOptions === 'function' ? defaultCallOptions(CONTEXT) : defaultCallOptions;
      deadlines.push(Number(opts?.deadline));
      throw refused;
    }).catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(deadlines.length).toBeGreaterThan(1);
    expect(new Set(deadlines).size).toBe(1);
    expect(deadlines[0]).toBeGreaterThanOrEqual(started + 600);
    expect(attemptsBehind(err)).toMatchObject({ attempts: deadlines.length });
    // A call made outside a policy (the auth token, say) still gets a deadline of its own.
    const own = typeof defaultCallOptions === 'function' ? defaultCallOptions(CONTEXT) : undefined;
    expect(Number(own?.deadline)).toBeGreaterThan(Date.now());
    expect(typeof defaultCallOptions === 'function' ? defaultCallOptions({ service: 'Maintenance', method: 'snapshot', isStream: true }) : undefined).toEqual({});
  });

  it('ends a call at the first failure that explain says more about, with what it says', async () => {
    const closed = new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Failed to connect (2026-12-05T10:31:22.740Z)');
    const better = new Error('http://10.0.0.5:2379 speaks TLS');
    const asked: unknown[] = [];
    const { faultHandling: policies } = faultHandling(5_000, async (err) => {
      asked.push(err);
      return err === closed ? better : undefined;
    });
    let attempts = 0;
    const started = Date.now();
    const err = await policies!.global!.execute(() => {
      attempts++;
      throw closed;
    }).catch((e: unknown) => e);
    expect(err).toBe(better);
    expect(attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    // Only transient failures are asked about: the others are not retried anyway.
    const tooBig = new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: Received message larger than max (128010783 vs 67108864)');
    await expect(policies!.global!.execute(() => {
      throw tooBig;
    })).rejects.toBe(tooBig);
    expect(asked).toEqual([closed]);
  });

  it('names what a call that ran out of time was up against', async () => {
    const { faultHandling: policies } = faultHandling(2_000);
    const dropped = new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped');
    let attempt = 0;
    const err = await policies!.global!.execute(() => {
      throw attempt++ === 0 ? dropped : new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
    }).catch((e: unknown) => e);
    expect(err).toBe(dropped);
    expect(attemptsBehind(err)?.attempts).toBe(2);
  });

  it('ends a call at once when its operation is interrupted: in the backoff, and before any attempt', async () => {
    const { faultHandling: policies, defaultCallOptions } = faultHandling(20_000);
    const refused = new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED');
    const controller = new AbortController();
    let attempts = 0;
    let options: unknown;
    const err = await interruptibleBy(controller.signal, () =>
      policies!.global!.execute(() => {
        attempts++;
        // The attempt of an interruptible operation carries the interceptor that cancels it.
        options = typeof defaultCallOptions === 'function' ? defaultCallOptions(CONTEXT) : undefined;
        setTimeout(() => controller.abort(new Error('received SIGTERM')), 10);
        throw refused;
      }),
    ).catch((e: unknown) => e);
    // Not a retry until the 20 s deadline: the backoff after the first attempt was cut short, and nothing came after.
    expect(attempts).toBe(1);
    expect(err).toBeInstanceOf(EtcdInterruptedError);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).message).toBe('interrupted (received SIGTERM) while waiting for etcd');
    expect((options as { interceptors?: unknown[] }).interceptors).toHaveLength(1);
    await expect(interruptibleBy(controller.signal, () => policies!.global!.execute(() => attempts++))).rejects.toBeInstanceOf(EtcdInterruptedError);
    expect(attempts).toBe(1);
    // Outside an interruptible operation (the delta recorder's watch) calls are as they were: no interceptor.
    expect(typeof defaultCallOptions === 'function' ? Object.keys(defaultCallOptions(CONTEXT) ?? {}) : undefined).toEqual(['deadline']);
  });
});
