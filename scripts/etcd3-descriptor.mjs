// Writes dist/etcd/etcd3-rpc.json after `tsc`: etcd3's .proto files as proto-loader parses them, in protobufjs JSON,
// so that a command does not parse them at every start (src/etcd/etcd3-proto.ts; ~30 ms of CPU; README, Performance).
// It reads them through proto-loader's own parsing module, which is not its public API: should another version of
// proto-loader or etcd3 not have it, the build goes on without the file, and etcd3 parses its files at each start.
import { rmSync, writeFileSync } from 'node:fs';

const out = new URL('../dist/etcd/etcd3-rpc.json', import.meta.url);
try {
  const { etcd3Descriptor } = await import(new URL('../dist/etcd/etcd3-proto.js', import.meta.url).href);
  writeFileSync(out, JSON.stringify(etcd3Descriptor()));
} catch (err) {
  rmSync(out, { force: true });
  console.warn(`etcd3-descriptor: not written (etcd3 will parse its .proto files at each start): ${err?.message ?? err}`);
}
