import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_NODE_MAJOR } from '../../src/runtime.js';
import { startTrap, type Trap } from '../helpers/trap.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

/** A `node` older than reshifter's minimum on this machine (Debian's /usr/bin/node is 20 on CI's machines), if any. */
function olderNode(): { path: string; version: string } | undefined {
  const found = spawnSync('sh', ['-c', 'which -a node nodejs; ls /usr/bin/node /usr/local/bin/node 2>/dev/null'], { encoding: 'utf8' }).stdout;
  for (const path of new Set(found.split('\n').filter(Boolean))) {
    if (!existsSync(path)) continue;
    const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout.trim();
    if (Number(/^v(\d+)\./.exec(version)?.[1]) < MIN_NODE_MAJOR) return { path, version };
  }
  return undefined;
}

const old = olderNode();

/**
 * The CLI started by an older Node.js (a workstation's, or a distribution's): before, a backup was written and then
 * failed its own verification ("The "original" argument must be of type function"), since zstd is decoded by Node's
 * own libzstd. Now it stops before any work, saying which Node it needs. Runs where the machine has an older node.
 */
describe.skipIf(old === undefined)(`the CLI under an older Node.js (${old?.version ?? 'none on this machine'})`, () => {
  let dir: string;
  let trap: Trap;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-oldnode-'));
    // Stands in for etcd: any connection to it would be work done on a runtime that cannot finish it.
    trap = await startTrap();
  });
  afterAll(async () => {
    await trap.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start with exit 2, naming both versions, before touching etcd or the store', async () => {
    const child = spawn(old!.path, [MAIN, 'backup'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: join(dir, 'store') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(stderr.trim()).toBe(
      `reshifter: needs Node.js ${MIN_NODE_MAJOR} or later, and this is Node.js ${old!.version}: run it with Node.js ${MIN_NODE_MAJOR} ` +
        '(in a clone, `export PATH="$(scripts/install-node.sh):$PATH"` puts one first in PATH), or use the container image',
    );
    expect(code).toBe(2);
    expect(trap.connections).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });
});
