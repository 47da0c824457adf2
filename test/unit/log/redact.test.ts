import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createLogger } from '../../../src/log.js';

const SECRETS = {
  RS_ETCD_PASSWORD: 'etcd-pw-31c7a9',
  SECRET_ACCESS_KEY: 's3-secret-8d02f4',
  RS_ENCRYPTION_PASSPHRASE: 'passphrase-77ab10',
  RS_API_TOKEN: 'api-token-5e6f7a8b9c0d',
};

describe('log redaction', () => {
  it('hides every credential of the config, however a log call carries it, at every level', () => {
    const { config, errors } = loadConfig({
      ...SECRETS,
      RS_ETCD_USERNAME: 'root',
      ACCESS_KEY_ID: 'AKIA',
      RS_S3_BUCKET: 'backups',
    });
    expect(errors).toBeUndefined();
    let out = '';
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        out += c.toString();
        cb();
      },
    });
    const log = createLogger('trace', sink);
    log.trace({ config }, 'config');
    log.debug({ etcd: config!.etcd, store: config!.store }, 'parts');
    log.info(config!.etcd as unknown as Record<string, unknown>, 'flat');
    log.child({ component: 'store' }).warn({ cfg: config!.store }, 'child');
    log.error({ err: { options: config!.etcd } }, 'nested in an error');
    log.fatal({ encryption: config!.encryption, apiToken: config!.apiToken }, 'keys');
    expect(out.split('\n').filter(Boolean)).toHaveLength(6);
    for (const secret of Object.values(SECRETS)) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });
});
