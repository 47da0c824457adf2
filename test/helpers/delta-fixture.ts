import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { killStarted } from './background-run.js';
import { runCli } from './cli.js';
import { startEtcd, type TestEtcd } from './etcd.js';

/** One store folder of a delta test: its path, the CLI's env for it, and the repository of cluster "default" in it. */
export interface DeltaStore {
  dir: string;
  env: Record<string, string>;
  local: LocalStore;
  repo: BackupRepository;
}

/** What the delta tests share, set up by their file's beforeAll (read its fields inside the tests only). */
export interface DeltaFixture {
  readonly etcd: TestEtcd;
  readonly client: Etcd3;
  readonly work: string;
  /** The folder `name` under the work folder, with RS_ETCD_ENDPOINTS, RS_BACKUP_DIR, RS_HTTP_PORT=0 and `extra`. */
  store(name: string, extra?: Record<string, string>): DeltaStore;
  /** Puts `key` through the client; the revision it made. */
  put(key: string, value: string): Promise<number>;
  /** `backup --json --strategy <strategy>`, which must succeed; its manifest. */
  backup(env: Record<string, string>, strategy: string): Promise<Manifest>;
}

/**
 * The fixture of the delta tests: an etcd, a client of it and a work folder (prefix `prefix`) for the whole file,
 * removed after it with every `run` the file started. Call it at the top of the file.
 */
export function deltaFixture(prefix: string): DeltaFixture {
  let etcd: TestEtcd | undefined;
  let client: Etcd3 | undefined;
  let work: string | undefined;
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    work = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    killStarted();
    client?.close();
    await etcd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`deltaFixture: ${what} is read before the file's beforeAll ran`);
    return value;
  };
  const fixture: DeltaFixture = {
    get etcd() { return ready(etcd, 'etcd'); },
    get client() { return ready(client, 'client'); },
    get work() { return ready(work, 'work'); },
    store(name, extra = {}) {
      const dir = join(fixture.work, name);
      const local = new LocalStore(dir);
      const env = { RS_ETCD_ENDPOINTS: fixture.etcd.endpoint, RS_BACKUP_DIR: dir, RS_HTTP_PORT: '0', ...extra };
      return { dir, env, local, repo: new BackupRepository(local, 'default') };
    },
    put: (key, value) => fixture.client.put(key).value(value).exec().then((r) => Number(r.header.revision)),
    async backup(env, strategy) {
      const res = await runCli(['backup', '--json', '--strategy', strategy], env);
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
    },
  };
  return fixture;
}
