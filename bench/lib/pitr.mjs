// Point-in-time restore for `npm run bench` (issue #13): a full backup of the loaded dataset (a snapshot, and a raw
// key dump), then `events` changes (updates of existing keys, a tenth of them deletes) recorded as delta segments from
// etcd's own watch history with the recorder's storeSegment, then the timed restores to the last change: the
// snapshot into a new data dir (replayed in a temporary etcd) and the key dump into an empty etcd.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { loadConfig } from '../../dist/config/load-config.js';
import { createLogger } from '../../dist/log.js';
import { encryptionKeys } from '../../dist/ops/encryption-keys.js';
import { openRepository } from '../../dist/ops/repository.js';
import { storeSegment } from '../../dist/ops/store-segment.js';

/** Changes per stored segment: a recorder with a 10 s interval on a busy cluster writes segments of this order. */
const PER_SEGMENT = 10_000;

/**
 * Runs the point-in-time cases: `rs(args, env)` runs the built CLI measured, `record(name, m, extra)` keeps a result.
 * The dataset's keys are changed afterwards: run it after every other case.
 */
export async function benchPointInTime({ etcd, startEtcd, etcdArgs, rs, record, base, work, events, log, main, nodeFlags }) {
  const store = join(work, 'pitr-store');
  rmSync(store, { recursive: true, force: true });
  mkdirSync(store, { recursive: true });
  const env = { ...base, RS_BACKUP_DIR: store };
  const bases = {};
  for (const strategy of ['snapshot', 'raw']) {
    const out = execFileSync(process.execPath, [...nodeFlags, main, 'backup', '--json'], { env: { ...env, RS_BACKUP_STRATEGY: strategy }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    bases[strategy] = JSON.parse(out);
  }
  const from = bases.snapshot.etcd.revision + 1;
  log(`pitr: making ${events} changes after revision ${from - 1}`);
  const client = new Etcd3({ hosts: etcd.endpoint, grpcOptions: { 'grpc.max_send_message_length': 16 * 1024 * 1024, 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
  try {
    const keys = await changeKeys(client, events);
    const to = Number((await client.kv.range({ key: Buffer.from([0]), count_only: true })).header.revision);
    log(`pitr: recording revisions ${from}..${to} as segments of ${PER_SEGMENT} changes`);
    for (const strategy of ['snapshot', 'raw']) await recordSegments(client, env, bases[strategy], from, to, strategy === 'raw' ? bases.raw.prefixes : undefined);
    const dataDir = join(work, 'pitr-data-dir');
    rmSync(dataDir, { recursive: true, force: true });
    const d = await rs(['restore', 'latest', '--to', 'latest', '--data-dir', dataDir], env);
    record('rs restore --to data dir', d, { keys, events });
    rmSync(dataDir, { recursive: true, force: true });
    const empty = await startEtcd({ args: etcdArgs });
    try {
      const k = await rs(['restore', 'latest', '--to', 'latest'], { ...env, RS_ETCD_ENDPOINTS: empty.endpoint });
      record('rs restore --to keys', k, { keys, events });
    } finally {
      await empty.stop();
    }
  } finally {
    client.close();
    rmSync(store, { recursive: true, force: true });
  }
}

/** Updates `events` existing keys (values changed in place, same size), every tenth change a delete; returns the key count. */
async function changeKeys(client, events) {
  const all = (await client.getAll().prefix('/').keys()).filter((k) => k.startsWith('/registry/'));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < events; i = next++) {
      const key = all[(i * 7919) % all.length];
      if (i % 10 === 9) await client.delete().key(key).exec();
      else await client.put(key).value(`changed ${i} `.repeat(200)).exec();
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return all.length;
}

/** etcd's history from..to read with a watch, stored as segments of the chain of `manifest` (as the recorder stores them). */
async function recordSegments(client, env, manifest, from, to, prefixes) {
  const loaded = loadConfig(env);
  if (loaded.errors) throw new Error(loaded.errors.join('; '));
  const config = loaded.config;
  const repo = openRepository(config);
  const keys = await encryptionKeys(config);
  const chain = { base: manifest.id, baseRevision: manifest.etcd.revision, etcdVersion: manifest.etcd.version, ...(prefixes && { prefixes }) };
  const watcher = await client.watch().inRange({ start: Buffer.from([0]), end: Buffer.from([0]) }).startRevision(String(from)).create();
  let pending = [];
  let start = from;
  const flush = async (end) => {
    await storeSegment({ config, log: createLogger('silent') }, repo, keys, chain, { fromRevision: start, toRevision: end, events: pending, bytes: 0, reason: 'interval' });
    pending = [];
    start = end + 1;
  };
  try {
    await new Promise((resolve, reject) => {
      let queue = Promise.resolve();
      watcher.on('error', reject);
      watcher.on('data', (res) => {
        queue = queue.then(async () => {
          let last = start - 1;
          for (const ev of res.events) {
            const rev = Number(ev.kv.mod_revision);
            if (rev > to) break;
            last = rev;
            const key = ev.kv.key;
            if (prefixes && !prefixes.some((p) => key.toString('latin1').startsWith(`${p}/`))) continue;
            const put = ev.type === 'Put';
            const lease = put && ev.kv.lease !== '0' ? { lease: String(ev.kv.lease) } : {};
            pending.push({ type: put ? 'put' : 'delete', key, value: put ? ev.kv.value : Buffer.alloc(0), createRevision: put ? Number(ev.kv.create_revision) : 0, modRevision: rev, version: put ? Number(ev.kv.version) : 0, observedAt: Date.now(), ...lease });
          }
          if (last >= to) {
            await flush(to);
            resolve();
          } else if (pending.length >= PER_SEGMENT) await flush(last);
        }, reject);
      });
    });
  } finally {
    await watcher.cancel();
    await repo.store.close();
  }
}
