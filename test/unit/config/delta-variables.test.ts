import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';

const load = (env: Record<string, string>) => loadConfig({ RS_BACKUP_DIR: '/tmp', ...env });

describe('RS_DELTA_INTERVAL and RS_DELTA_MAX_BYTES', () => {
  it('are off and 64 MiB unless set', () => {
    expect(load({}).config!.delta).toEqual({ intervalMs: 0, maxBytes: 64 * 1024 * 1024 });
    expect(load({ RS_DELTA_INTERVAL: '0' }).config!.delta.intervalMs).toBe(0);
  });
  it('read durations and binary sizes', () => {
    expect(load({ RS_DELTA_INTERVAL: '2s', RS_DELTA_MAX_BYTES: '16MiB' }).config!.delta).toEqual({ intervalMs: 2000, maxBytes: 16 * 1024 * 1024 });
    expect(load({ RS_DELTA_MAX_BYTES: '524288' }).config!.delta.maxBytes).toBe(524288);
  });
  it('name the bad value and what it should be', () => {
    expect(load({ RS_DELTA_INTERVAL: 'often' }).errors).toEqual([expect.stringMatching(/^RS_DELTA_INTERVAL was invalid: "often" is not a duration/)]);
    expect(load({ RS_DELTA_MAX_BYTES: '1k' }).errors).toEqual([expect.stringMatching(/^RS_DELTA_MAX_BYTES was invalid: "1k" is not a size from 64KiB to 1GiB/)]);
  });
  it('refuse full backups that cannot start a chain', () => {
    expect(load({ RS_DELTA_INTERVAL: '2s', RS_BACKUP_STRATEGY: 'render' }).errors).toEqual([expect.stringMatching(/RS_DELTA_INTERVAL needs full backups that hold values/)]);
    expect(load({ RS_DELTA_INTERVAL: '2s', RS_ETCD_API_VERSION: 'v2' }).errors).toEqual([expect.stringMatching(/watches the v3 keyspace/)]);
  });
});
