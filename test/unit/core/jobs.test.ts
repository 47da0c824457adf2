import { describe, expect, it } from 'vitest';
import { JobQueue, type JobContext } from '../../../src/core/jobs.js';

/** A job body that runs until the test lets it finish (or fail). */
function gate<T>(value: T) {
  let release!: () => void;
  let fail!: (err: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  let started = false;
  let ctx: JobContext | undefined;
  return {
    run: async (c: JobContext) => {
      started = true;
      ctx = c;
      await opened;
      return value;
    },
    release,
    fail,
    get started() {
      return started;
    },
    get ctx() {
      return ctx;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function queue() {
  let n = 0;
  return new JobQueue({ newId: () => `job-${++n}`, now: () => new Date('2026-01-01T00:00:00Z') });
}

describe('JobQueue', () => {
  it('runs one writing job at a time, in submission order', async () => {
    const q = queue();
    const a = gate('a');
    const b = gate('b');
    const c = gate('c');
    const ja = q.submit({ kind: 'backup', writes: true, run: a.run });
    const jb = q.submit({ kind: 'restore', writes: true, run: b.run });
    const jc = q.submit({ kind: 'backup', writes: true, run: c.run });
    await tick();
    expect(a.started).toBe(true);
    expect(b.started).toBe(false);
    expect(q.get(ja.id)!.state).toBe('running');
    expect(q.get(jb.id)).toMatchObject({ state: 'queued', queuePosition: 1 });
    expect(q.get(jc.id)).toMatchObject({ state: 'queued', queuePosition: 2 });
    a.release();
    await q.wait(ja.id);
    await tick();
    expect(b.started).toBe(true);
    expect(c.started).toBe(false);
    expect(q.get(jc.id)!.queuePosition).toBe(1);
    b.release();
    await q.wait(jb.id);
    c.release();
    await q.wait(jc.id);
    expect(q.get(jc.id)).toMatchObject({ state: 'succeeded', result: 'c' });
  });

  it('starts reading jobs at once, beside a running writer', async () => {
    const q = queue();
    const w = gate('w');
    const r = gate('r');
    q.submit({ kind: 'backup', writes: true, run: w.run });
    const jr = q.submit({ kind: 'verify', writes: false, run: r.run });
    await tick();
    expect(w.started).toBe(true);
    expect(r.started).toBe(true);
    r.release();
    expect((await q.wait(jr.id))!.state).toBe('succeeded');
    w.release();
  });

  it('records failure with the message and goes on with the next writer', async () => {
    const q = queue();
    const bad = q.submit({ kind: 'restore', writes: true, run: async () => { throw new Error('etcd went away\nstack'); } });
    const good = q.submit({ kind: 'backup', writes: true, run: async () => 42 });
    expect(await q.wait(bad.id)).toMatchObject({ state: 'failed', error: 'etcd went away' });
    expect(await q.wait(good.id)).toMatchObject({ state: 'succeeded', result: 42 });
    expect(q.get(bad.id)!.result).toBeUndefined();
  });

  it('keeps progress reported by the job, and hands out copies', async () => {
    const q = queue();
    const g = gate(null);
    const job = q.submit({ kind: 'backup', writes: true, params: { strategy: 'snapshot' }, run: g.run });
    await tick();
    g.ctx!.progress({ bytes: 100 });
    g.ctx!.progress({ keys: 7 });
    const view = q.get(job.id)!;
    expect(view.progress).toEqual({ bytes: 100, keys: 7 });
    view.progress.bytes = -1;
    expect(q.get(job.id)!.progress.bytes).toBe(100);
    expect(view.params).toEqual({ strategy: 'snapshot' });
    g.release();
    await q.wait(job.id);
  });

  it('close aborts the running job, cancels the queued ones and refuses new ones', async () => {
    const q = queue();
    let aborted: unknown;
    const running = q.submit({
      kind: 'backup',
      writes: true,
      run: (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            reject(new Error('interrupted'));
          }),
        ),
    });
    const queued = gate('never');
    const waiting = q.submit({ kind: 'restore', writes: true, run: queued.run });
    await tick();
    await q.close(new Error('SIGTERM'));
    expect((aborted as Error).message).toBe('SIGTERM');
    expect(q.get(running.id)).toMatchObject({ state: 'failed', error: 'interrupted' });
    expect(q.get(waiting.id)!.state).toBe('failed');
    expect(q.get(waiting.id)!.error).toMatch(/cancelled/);
    expect(queued.started).toBe(false);
    expect(() => q.submit({ kind: 'backup', writes: true, run: async () => 1 })).toThrow(/shutting down/);
  });

  it('lists newest first, finds pending jobs, and forgets the oldest finished ones', async () => {
    let n = 0;
    const q = new JobQueue({ keepFinished: 2, newId: () => `j${++n}` });
    for (let i = 0; i < 3; i++) await q.wait(q.submit({ kind: 'verify', writes: false, run: async () => i }).id);
    const g = gate(0);
    q.submit({ kind: 'backup', trigger: 'schedule', writes: true, run: g.run });
    expect(q.list().map((j) => j.id)).toEqual(['j4', 'j3', 'j2']);
    expect(q.get('j1')).toBeUndefined();
    expect(q.pending((j) => j.trigger === 'schedule').map((j) => j.id)).toEqual(['j4']);
    g.release();
    await q.wait('j4');
    expect(q.pending()).toEqual([]);
  });

  it('gives the recent rate of a running job from its progress, and the total it expects', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const q = new JobQueue({ now: () => new Date(t) });
    const g = gate(0);
    const job = q.submit({ kind: 'backup', writes: true, run: g.run });
    await tick();
    // Half a second in, too soon to say; then 10 MB a second for 4 s, then 2 MB a second.
    t += 500;
    g.ctx!.progress({ bytes: 5_000_000, totalBytes: 100_000_000 });
    expect(q.get(job.id)!.progress).toEqual({ bytes: 5_000_000, keys: 0, totalBytes: 100_000_000 });
    for (let s = 1; s <= 4; s++) {
      t += 1000;
      g.ctx!.progress({ bytes: 5_000_000 + s * 10_000_000 });
    }
    expect(q.get(job.id)!.progress.bytesPerSecond).toBe(10_000_000);
    for (let s = 1; s <= 6; s++) {
      t += 1000;
      g.ctx!.progress({ bytes: 45_000_000 + s * 2_000_000 });
    }
    // The window is the last 5 s: the faster start is forgotten.
    expect(q.get(job.id)!.progress).toEqual({ bytes: 57_000_000, keys: 0, totalBytes: 100_000_000, bytesPerSecond: 2_000_000 });
    g.release();
    await q.wait(job.id);
    expect(q.get(job.id)!.progress).toEqual({ bytes: 57_000_000, keys: 0, totalBytes: 100_000_000 });
  });

  it('reports every state change', async () => {
    const states: string[] = [];
    const q = new JobQueue({ onChange: (j) => states.push(j.state) });
    await q.wait(q.submit({ kind: 'backup', writes: true, run: async () => 1 }).id);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
  });
});
