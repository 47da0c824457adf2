#!/usr/bin/env node
// etcd's own apply rate on this machine: the ceiling a key restore is measured against. Generates the bench dataset
// in memory first (untimed), then writes it into the etcd at --endpoint with plain transactions of puts, as a
// restore does (at most --ops operations and --max-bytes bytes each, --in-flight at a time), and prints
// {"keys","bytes","ms","keysPerSecond"} as one JSON line. Nothing of reshifter runs here but the dataset generator.
//
//   node bench/txn-loader.mjs --endpoint http://127.0.0.1:2379 --keys 100000 --size-mb 300
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { benchDataset } from './lib/dataset.mjs';

const MB = 1024 * 1024;
const { values: opt } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    keys: { type: 'string', default: '100000' },
    'size-mb': { type: 'string', default: '300' },
    ops: { type: 'string', default: '128' },
    'max-bytes': { type: 'string', default: String(MB) },
    'in-flight': { type: 'string', default: '4' },
  },
});
if (!opt.endpoint) throw new Error('--endpoint is required');
const maxOps = Number(opt.ops);
const maxBytes = Number(opt['max-bytes']);
const inFlight = Number(opt['in-flight']);

// Batches of put operations, built before the clock starts.
const batches = [];
let batch = [];
let batchBytes = 0;
let keys = 0;
let bytes = 0;
for (const { key, value } of benchDataset({ keys: Number(opt.keys), bytes: Number(opt['size-mb']) * MB })) {
  if (batch.length > 0 && (batch.length >= maxOps || batchBytes + key.length + value.length > maxBytes)) {
    batches.push(batch);
    batch = [];
    batchBytes = 0;
  }
  batch.push({ request_put: { key, value } });
  batchBytes += key.length + value.length;
  keys++;
  bytes += value.length;
}
if (batch.length > 0) batches.push(batch);

const client = new Etcd3({ hosts: opt.endpoint, grpcOptions: { 'grpc.max_send_message_length': 16 * MB } });
try {
  await client.kv.range({ key: Buffer.from([0]), count_only: true }); // connected before the clock starts
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await client.kv.txn({ compare: [], success: batches[next++], failure: [] });
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ keys, bytes, ms, keysPerSecond: Math.round(keys / (ms / 1000)) })}\n`);
} finally {
  client.close();
}
