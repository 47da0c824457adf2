import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { etcdDigests } from '../helpers/big-values.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * A restore into an etcd that takes smaller requests than the source did (`--max-request-bytes` 600 KB here, 1.5 MiB
 * by default): batches sized for the default are split until they fit, and a key too big for the target on its own
 * is named with its size, rather than "a message exceeded etcd or gRPC size limits" for a whole batch.
 */
let source: TestEtcd;
let target: TestEtcd;
let work: string;
// Keys in etcd's order after the namespaces: written in the restore's first pass, the big one last.
const BIG = '/registry/secrets/default/sh.helm.release.v1.app.v9';

beforeAll(async () => {
  [source, target] = await Promise.all([startEtcd(), startEtcd({ args: ['--max-request-bytes', '600000'] })]);
  work = await mkdtemp(join(tmpdir(), 'rs-request-limit-'));
  const client = new Etcd3({ hosts: source.endpoint });
  await client.put('/registry/namespaces/default').value('ns');
  // Three of 250 KB: one batch for the restore (under its 1 MiB), over the target's limit together, each under it alone.
  for (let i = 1; i <= 3; i++) await client.put(`/registry/secrets/default/sh.helm.release.v1.app.v${i}`).value(randomBytes(250_000));
  await client.put(BIG).value(randomBytes(700_000));
  client.close();
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), ...extra });

it('writes every key the target can take, and names the one it cannot, with its size', async () => {
  const made = await runInProcess(['backup', '--strategy', 'raw', '--json'], env(source));
  expect(made.code, made.stderr).toBe(0);
  const { id } = JSON.parse(made.stdout) as { id: string };
  const res = await runInProcess(['restore', id], env(target));
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`"${BIG}" with its value (${BIG.length + 700_000} bytes) is more than this etcd takes in one request (its --max-request-bytes`);
  const expected = await etcdDigests(source.endpoint);
  expected.delete(BIG);
  expect(await etcdDigests(target.endpoint)).toEqual(expected);
  // Without that key the restore completes.
  const rest = await runInProcess(['restore', id], env(target, { RS_EXCLUDE_RESOURCES: 'secrets' }));
  expect(rest.code, rest.stderr).toBe(0);
});

it('names the key, with its size, when the target refuses it before etcd reads it (over its gRPC limit) (found by an operator pass)', async () => {
  // etcd takes a message of up to --max-request-bytes + 512 KiB at gRPC (1.1 MB for this target) and answers
  // RESOURCE_EXHAUSTED beyond it, not "request is too large": a source with a raised limit (Helm releases over 1.5
  // MiB) restored into a default etcd. The restore said "a message exceeded etcd or gRPC size limits", no key.
  const HUGE = '/registry/configmaps/default/huge';
  const client = new Etcd3({ hosts: source.endpoint });
  await client.put(HUGE).value(randomBytes(1_300_000));
  await client.put('/registry/configmaps/default/small').value('x');
  client.close();
  const made = await runInProcess(['backup', '--strategy', 'filter:configmaps', '--json'], env(source, { RS_CLUSTER_NAME: 'grpc-limit' }));
  expect(made.code, made.stderr).toBe(0);
  const { id } = JSON.parse(made.stdout) as { id: string };
  const res = await runInProcess(['restore', id], env(target, { RS_CLUSTER_NAME: 'grpc-limit' }));
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`"${HUGE}" with its value (${HUGE.length + 1_300_000} bytes) is more than this etcd takes in one request (its --max-request-bytes`);
  expect((await etcdDigests(target.endpoint)).has('/registry/configmaps/default/small')).toBe(true);
});

it('restores a value put alone at etcd\'s very limit into an etcd of the same limit (found by an operator pass)', async () => {
  // `etcdctl put` takes a value up to --max-request-bytes less the put's few bytes of framing; the restore's
  // transaction adds its own around the put (~8 bytes), and a target with the same default limit refused it, saying
  // its limit was "lower than the source's".
  const KEY = '/registry/secrets/default/sh.helm.release.v1.limit.v1';
  const client = new Etcd3({ hosts: source.endpoint, grpcOptions: { 'grpc.max_send_message_length': 4 * 1024 * 1024 } });
  let [lo, hi] = [1_570_000, 1_580_000];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const ok = await client.put(KEY).value(Buffer.alloc(mid, 7)).then(() => true, () => false);
    [lo, hi] = ok ? [mid, hi] : [lo, mid - 1];
  }
  // A few bytes under what this member took: another member's request header may be a byte or two longer (its id),
  // while the transaction's own framing is more than that.
  await client.put(KEY).value(randomBytes(lo - 3));
  client.close();
  const same = await startEtcd();
  try {
    const made = await runInProcess(['backup', '--strategy', 'filter:secrets', '--json'], env(source, { RS_CLUSTER_NAME: 'at-limit' }));
    expect(made.code, made.stderr).toBe(0);
    const { id } = JSON.parse(made.stdout) as { id: string };
    const res = await runInProcess(['restore', id], env(same, { RS_CLUSTER_NAME: 'at-limit' }));
    expect(res.code, res.stderr).toBe(0);
    expect((await etcdDigests(same.endpoint)).get(KEY)).toBe((await etcdDigests(source.endpoint)).get(KEY));
  } finally {
    await same.stop();
  }
});
