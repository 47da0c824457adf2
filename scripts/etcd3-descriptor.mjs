// Writes dist/etcd/etcd3-rpc.json after `tsc`: etcd3's .proto files as proto-loader parses them, in protobufjs JSON,
// so that a command does not parse them at every start (src/etcd/etcd3-proto.ts; ~30 ms of CPU; README, Performance).
import { writeFileSync } from 'node:fs';

const { etcd3Descriptor } = await import(new URL('../dist/etcd/etcd3-proto.js', import.meta.url).href);
writeFileSync(new URL('../dist/etcd/etcd3-rpc.json', import.meta.url), JSON.stringify(etcd3Descriptor()));
