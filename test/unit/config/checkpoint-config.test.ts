import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../../../src/config/load-config.js';
import { rmSync } from 'node:fs';

/** The variables of container checkpoints, and their rules when RS_BACKUP_STRATEGY is checkpoint. */
const dir = mkdtempSync(join(tmpdir(), 'rs-ckpt-config-'));
const checkpoints = join(dir, 'checkpoints');
mkdirSync(checkpoints);
const token = join(dir, 'token');
writeFileSync(token, 'a-token\n');
const pem = join(dir, 'x.pem');
writeFileSync(pem, 'pem\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const checkpointEnv = (extra: Env = {}): Env => ({
  RS_BACKUP_STRATEGY: 'checkpoint',
  RS_CHECKPOINT_TARGETS: 'shop/*',
  RS_KUBELET_TOKEN_FILE: token,
  RS_CHECKPOINT_DIR: checkpoints,
  ...extra,
});

describe('checkpoint configuration', () => {
  it('has defaults that name the node-local kubelet and its checkpoint folder, keeping nothing on the node', () => {
    const { config } = loadConfig({});
    expect(config?.checkpoint).toEqual({
      kubelet: { url: 'https://127.0.0.1:10250' },
      timeoutSeconds: 120,
      dir: '/var/lib/kubelet/checkpoints',
      keepLocal: false,
    });
  });

  it('reads every variable into its field', () => {
    const { config, errors } = loadConfig(
      checkpointEnv({
        RS_CHECKPOINT_TARGETS: 'shop/*, default/web/app',
        RS_KUBELET_URL: 'https://10.0.0.7:10250/',
        RS_KUBELET_CA_CERT: pem,
        RS_KUBELET_CLIENT_CERT: pem,
        RS_KUBELET_CLIENT_KEY: pem,
        RS_KUBELET_SERVER_NAME: 'node-7.example.com',
        RS_CHECKPOINT_TIMEOUT: '5m30s',
        RS_CHECKPOINT_KEEP_LOCAL: 'true',
      }),
    );
    expect(errors).toBeUndefined();
    expect(config?.strategy).toEqual({ kind: 'checkpoint' });
    expect(config?.checkpoint).toEqual({
      targets: [
        { namespace: 'shop', pod: '*', container: '*', text: 'shop/*' },
        { namespace: 'default', pod: 'web', container: 'app', text: 'default/web/app' },
      ],
      kubelet: { url: 'https://10.0.0.7:10250', caCertFile: pem, clientCertFile: pem, clientKeyFile: pem, tokenFile: token, serverName: 'node-7.example.com' },
      timeoutSeconds: 330,
      dir: checkpoints,
      keepLocal: true,
    });
  });

  it.each([
    ['RS_CHECKPOINT_TARGETS', '*/web/app', /RS_CHECKPOINT_TARGETS was invalid: "\*\/web\/app" has "\*\/web\/app": the namespace cannot be \*/],
    ['RS_CHECKPOINT_TARGETS', 'shop', /RS_CHECKPOINT_TARGETS was invalid: "shop" has "shop", which names no pod: write shop\/\* for every pod/],
    ['RS_CHECKPOINT_TARGETS', 'shop/web-*', /\* stands for a whole pod name/],
    ['RS_KUBELET_URL', 'http://10.0.0.7:10250', /RS_KUBELET_URL was invalid: "http:\/\/10.0.0.7:10250" has the scheme http: it must be https \(the kubelet's authenticated port/],
    ['RS_KUBELET_URL', 'kubelet', /RS_KUBELET_URL was invalid: "kubelet" has no scheme: give https:\/\/kubelet/],
    ['RS_KUBELET_CA_CERT', join(dir, 'missing.crt'), /RS_KUBELET_CA_CERT was invalid: ".*missing.crt" does not exist/],
    ['RS_KUBELET_TOKEN_FILE', dir, /RS_KUBELET_TOKEN_FILE was invalid: ".*" is not a file/],
    ['RS_KUBELET_SERVER_NAME', 'node_1', /RS_KUBELET_SERVER_NAME was invalid: "node_1" is not a host name/],
    // The DaemonSet's `$(HOST_IP)` / `$(NODE_NAME)`, copied into an env file or left unexpanded by a pod that does not
    // define the variable before it (Kubernetes then passes it on as it is): refused naming why, not a DNS failure later.
    ['RS_KUBELET_URL', 'https://$(HOST_IP):10250', /RS_KUBELET_URL was invalid: "https:\/\/\$\(HOST_IP\):10250" holds "\$\(HOST_IP\)", which only Kubernetes expands, in a container's env that defines HOST_IP before it/],
    ['RS_KUBELET_SERVER_NAME', '$(NODE_NAME)', /RS_KUBELET_SERVER_NAME was invalid: "\$\(NODE_NAME\)" holds "\$\(NODE_NAME\)", which only Kubernetes expands, in a container's env that defines NODE_NAME before it/],
    ['RS_CHECKPOINT_TIMEOUT', '500ms', /RS_CHECKPOINT_TIMEOUT was invalid: "500ms" is not a duration/],
    ['RS_CHECKPOINT_DIR', 'checkpoints', /RS_CHECKPOINT_DIR was invalid: "checkpoints" is not an absolute path/],
    ['RS_CHECKPOINT_KEEP_LOCAL', 'yes', /RS_CHECKPOINT_KEEP_LOCAL was invalid: "yes" should be either "true", "false"/],
  ])('%s=%j is refused, naming the variable and why', (name, value, message) => {
    const { errors } = loadConfig(checkpointEnv({ [name]: value }));
    expect(errors).toHaveLength(1);
    expect(errors![0]).toMatch(message);
  });

  it('needs targets, credentials and the checkpoint folder when the strategy is checkpoint, and names each', () => {
    const { errors } = loadConfig({ RS_BACKUP_STRATEGY: 'checkpoint', RS_CHECKPOINT_DIR: join(dir, 'nowhere') });
    expect(errors).toEqual([
      'RS_BACKUP_STRATEGY is checkpoint, but RS_CHECKPOINT_TARGETS is not set: name the containers to checkpoint (namespace/pod/container, * for every pod or container: shop/*, default/web/*)',
      'RS_BACKUP_STRATEGY is checkpoint, but the kubelet would get no credentials: set RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY, or RS_KUBELET_TOKEN_FILE',
      `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(join(dir, 'nowhere'))} does not exist: it must be the node's kubelet checkpoint folder (/var/lib/kubelet/checkpoints), mounted as a hostPath in a pod`,
    ]);
    // A client certificate is credentials too; a file is not a folder.
    expect(loadConfig(checkpointEnv({ RS_KUBELET_TOKEN_FILE: undefined, RS_KUBELET_CLIENT_CERT: pem, RS_KUBELET_CLIENT_KEY: pem, RS_CHECKPOINT_DIR: pem })).errors).toEqual([
      `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(pem)} is not a directory: it must be the node's kubelet checkpoint folder (/var/lib/kubelet/checkpoints), mounted as a hostPath in a pod`,
    ]);
    expect(loadConfig(checkpointEnv({ RS_KUBELET_CLIENT_CERT: pem })).errors).toEqual(['RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY must be set together']);
  });

  it('asks nothing of the checkpoint variables when another strategy is used (they are still checked when set)', () => {
    expect(loadConfig({ RS_BACKUP_STRATEGY: 'snapshot', RS_CHECKPOINT_DIR: join(dir, 'nowhere') }).errors).toBeUndefined();
    expect(loadConfig({ RS_BACKUP_STRATEGY: 'snapshot', RS_KUBELET_URL: 'http://x' }).errors?.[0]).toMatch(/^RS_KUBELET_URL was invalid/);
  });

  // A checkpoint folder that cannot be written (a non-root user, a read-only mount) is in test/e2e/checkpoint-dir-non-root.test.ts,
  // through the CLI as such a user.

  it('takes checkpoint as a strategy and refuses one container\'s series as one', () => {
    expect(loadConfig({ RS_BACKUP_STRATEGY: 'checkpoint:shop/web/app' }).errors?.[0]).toMatch(
      /RS_BACKUP_STRATEGY was invalid: "checkpoint:shop\/web\/app" is one container's series: a checkpoint backup is taken with checkpoint, and RS_CHECKPOINT_TARGETS names the containers/,
    );
    expect(loadConfig({ RS_BACKUP_STRATEGY: 'everything' }).errors?.[0]).toMatch(/should be one of snapshot, raw, render, filter:<resource>\[,<resource>...\], checkpoint/);
  });
});
