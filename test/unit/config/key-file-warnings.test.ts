import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'rs-keymode-'));
const cert = join(dir, 'client.crt');
writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

/** A key file of `mode`; on a Secret volume it is kubelet's symlink into `..data`, as the kubelet writes it. */
function keyFile(name: string, mode: number, opts: { volume?: boolean; content?: string } = {}): string {
  const folder = join(dir, name);
  mkdirSync(opts.volume ? join(folder, '..data') : folder, { recursive: true });
  const real = join(folder, opts.volume ? '..data' : '', 'key.pem');
  writeFileSync(real, opts.content ?? 'not read here\n');
  chmodSync(real, mode);
  if (!opts.volume) return real;
  symlinkSync('..data/key.pem', join(folder, 'key.pem'));
  return join(folder, 'key.pem');
}

const warningsOf = (env: Record<string, string>) => {
  const loaded = loadConfig(env);
  expect(loaded.errors).toBeUndefined();
  return loaded.warnings!.map((w) => `${w.msg}: ${w.detail}`);
};

/**
 * A private key others can read got no word (ssh warns: "UNPROTECTED PRIVATE KEY FILE"). reshifter warns once and
 * runs: a Kubernetes Secret volume is 0644 unless its defaultMode says otherwise.
 */
describe('private key files readable by other users', () => {
  it('warns of an etcd client key of mode 0644 or 0640, naming the variable read and chmod 600', () => {
    const key = keyFile('plain', 0o644);
    expect(warningsOf({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: key })).toEqual([
      `private key file readable by other users: RS_ETCD_CLIENT_KEY: ${key} is a private key readable by other users (mode 0644): chmod 600 ${key}`,
    ]);
    const group = keyFile('group', 0o640);
    expect(warningsOf({ ETCDCTL_CERT: cert, ETCDCTL_KEY: group })).toEqual([
      `private key file readable by other users: ETCDCTL_KEY: ${group} is a private key readable by other users (mode 0640): chmod 600 ${group}`,
    ]);
    expect(warningsOf({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: keyFile('closed', 0o600) })).toEqual([]);
    expect(warningsOf({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: keyFile('read-only', 0o400) })).toEqual([]);
  });

  it("on a Secret volume, names the volume's defaultMode, and takes 0440 (the pod's fsGroup) as closed", () => {
    const key = keyFile('volume', 0o644, { volume: true });
    expect(warningsOf({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: key })).toEqual([
      `private key file readable by other users: RS_ETCD_CLIENT_KEY: ${key} is a private key readable by every user in the container (mode 0644, a Secret volume's default): set defaultMode: 0400 on the volume (0440 with an fsGroup)`,
    ]);
    // manifests/components/openshift: defaultMode 288 (0440) with the pod's fsGroup.
    expect(warningsOf({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: keyFile('openshift', 0o440, { volume: true }) })).toEqual([]);
  });

  it('warns of the age identity file and the kubelet client key too, only for the commands that read them', () => {
    const identity = keyFile('age', 0o644, { content: 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n' });
    expect(warningsOf({ RS_ENCRYPTION_IDENTITY_FILE: identity })).toEqual([expect.stringContaining(`RS_ENCRYPTION_IDENTITY_FILE: ${identity} is a private key readable by other users (mode 0644)`)]);
    const kubelet = keyFile('kubelet', 0o604);
    expect(warningsOf({ RS_KUBELET_CLIENT_CERT: cert, RS_KUBELET_CLIENT_KEY: kubelet })).toEqual([expect.stringContaining(`RS_KUBELET_CLIENT_KEY: ${kubelet} is a private key readable by other users (mode 0604)`)]);
    // `list` reads no etcd: no word of its key.
    const loaded = loadConfig({ RS_ETCD_CLIENT_CERT: cert, RS_ETCD_CLIENT_KEY: keyFile('unused', 0o644) }, { groups: new Set(['general', 'store']) });
    expect(loaded.warnings).toEqual([]);
  });
});
