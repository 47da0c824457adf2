import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset, type DatasetOptions } from '../../src/demo/sample-data.js';
import { startEtcd, type TestEtcd } from './etcd.js';

/** A real etcd holding a sample cluster, a work folder beside it, and a snapshot file of it as etcdctl writes one. */
export interface SnapshotFileSetup {
  etcd: TestEtcd;
  /** The test's folder (commands run in it: a default ./backups would appear there); `work/tmp` is RS_TMP_DIR. */
  work: string;
  /** The work area to give as RS_TMP_DIR: empty again after every command that decoded a file in it. */
  tmp: string;
  /** The snapshot file `etcdctl snapshot save` wrote of the sample data (and `prepare`'s). */
  file: string;
  /** Saves another snapshot file of etcd as it is now, named `name` in `work`. */
  save(name: string): Promise<string>;
  /** Stops etcd and removes the work folder. */
  stop(): Promise<void>;
}

/**
 * Starts etcd, loads `dataset` into it, runs `prepare` (keys of the test's own), and saves the snapshot file
 * `etcd-snapshot-server-1-1764990000` (as k3s names its files) in a new work folder `rs-<name>-*`, with an empty work
 * area `tmp` in it: what the tests of snapshot files (verify, stats, diff, restore --keys) start from.
 */
export async function etcdWithSnapshotFile(name: string, dataset: DatasetOptions, prepare?: (client: Etcd3) => Promise<void>): Promise<SnapshotFileSetup> {
  const etcd = await startEtcd();
  const work = await mkdtemp(join(tmpdir(), `rs-${name}-`));
  const tmp = join(work, 'tmp');
  await mkdir(tmp);
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await loadDataset(client, sampleDataset(dataset));
    await prepare?.(client);
  } finally {
    client.close();
  }
  const save = async (file: string) => {
    const path = join(work, file);
    await etcd.ctl(['snapshot', 'save', path]);
    return path;
  };
  const file = await save('etcd-snapshot-server-1-1764990000');
  const stop = async () => {
    await Promise.all([etcd.stop(), rm(work, { recursive: true, force: true })]);
  };
  return { etcd, work, tmp, file, save, stop };
}
