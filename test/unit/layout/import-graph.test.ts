import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, sourceGraph, staticClosure, type SourceModule } from '../../helpers/source-graph.js';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));
const graph = sourceGraph(SRC);

/** The folder of a module (`ops/backup.ts` -> `ops`), or the module itself at the top (`cli.ts` -> `cli.ts`). */
const folderOf = (path: string) => (path.includes('/') ? path.split('/')[0]! : path);

/** Pure folders may import only pure code: these data shapes are the exceptions (types without I/O). */
const DATA_SHAPES = ['config/types.ts', 'archive/manifest.ts'];
const PURE = ['core', 'kube'];
const ENTRY = ['main.ts', 'cli-main.ts', 'early-signal.ts', 'cli.ts'];

/**
 * Which way folders may depend (README, Development). Each rule: the importing folder, and the folders (or top-level
 * modules) it must not import. Within a folder anything goes; cycles are refused everywhere (below).
 */
const FORBIDDEN: Record<string, readonly string[]> = {
  // The CLI's shell: commands are loaded by cli.ts alone.
  commands: [...ENTRY],
  // The API and the scheduler call operations, never commands.
  server: ['commands', ...ENTRY],
  // Operations are shared by the CLI and the API: no printing, no argv, no HTTP.
  ops: ['commands', 'server', 'demo', ...ENTRY],
  // The two sides of the data path and the artifact formats know nothing of what uses them.
  etcd: ['ops', 'commands', 'server', 'store', 'demo', ...ENTRY],
  store: ['ops', 'commands', 'server', 'etcd', 'kubelet', 'snapshot', 'demo', ...ENTRY],
  archive: ['ops', 'commands', 'server', 'etcd', 'store', 'kubelet', 'demo', ...ENTRY],
  kubelet: ['ops', 'commands', 'server', 'etcd', 'store', 'archive', 'snapshot', 'demo', ...ENTRY],
  snapshot: ['ops', 'commands', 'server', 'etcd', 'store', 'archive', 'kubelet', 'kube', 'config', 'demo', ...ENTRY],
  config: ['ops', 'commands', 'server', 'etcd', 'store', 'kubelet', 'snapshot', 'demo', ...ENTRY],
  demo: ['ops', 'commands', 'server', 'store', ...ENTRY],
};

function violations(modules: readonly SourceModule[]): string[] {
  const out: string[] = [];
  for (const m of modules) {
    const from = folderOf(m.path);
    for (const { path } of m.imports) {
      const to = folderOf(path);
      if (to === from) continue;
      if (PURE.includes(from) && !PURE.includes(to) && !DATA_SHAPES.includes(path)) out.push(`${m.path} -> ${path} (${from} is pure: core and kube only)`);
      if (FORBIDDEN[from]?.includes(to)) out.push(`${m.path} -> ${path} (${from} must not import ${to})`);
    }
  }
  return out;
}

describe('the layout of src/', () => {
  it('reads every module and its imports', () => {
    expect(graph.length).toBeGreaterThan(150);
    // The reader sees dynamic imports too: cli.ts loads every command with import().
    expect(graph.find((m) => m.path === 'cli.ts')!.imports.filter((i) => i.dynamic && i.path.startsWith('commands/')).length).toBeGreaterThan(10);
  });

  it('has no import cycle', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('imports only in the directions the README allows', () => {
    expect(violations(graph)).toEqual([]);
  });

  it('catches what it is meant to catch: a cycle, server -> commands, core -> store', () => {
    const made: SourceModule[] = [
      { path: 'server/a.ts', imports: [{ path: 'commands/b.ts', dynamic: true }], packages: [] },
      { path: 'commands/b.ts', imports: [{ path: 'server/a.ts', dynamic: false }], packages: [] },
      { path: 'core/c.ts', imports: [{ path: 'store/d.ts', dynamic: false }, { path: 'archive/manifest.ts', dynamic: false }], packages: [] },
    ];
    expect(importCycles(made)).toEqual([['commands/b.ts', 'server/a.ts']]);
    expect(violations(made)).toEqual(['server/a.ts -> commands/b.ts (server must not import commands)', 'core/c.ts -> store/d.ts (core is pure: core and kube only)']);
  });

  // bench/results/HISTORY.md: `version` must not pay for the AWS SDK or gRPC, nor `inspect <file>` for them or age.
  const HEAVY = /^(@aws-sdk\/|etcd3$|@grpc\/|age-encryption$|node-cron$)/;
  const heavyIn = (entry: string) => staticClosure(graph, entry).flatMap((m) => m.packages.filter((p) => HEAVY.test(p)).map((p) => `${m.path}: ${p}`));

  it('starts every command without loading the S3 SDK, gRPC, age or cron: commands load them when they need them', () => {
    // main.ts loads cli-main.ts with import() (after holding early signals): its static closure is what every command pays.
    expect(heavyIn('cli-main.ts')).toEqual([]);
  });

  it.each(['backup', 'restore'])('%ss without loading age or prom-client: they load when a key or a Pushgateway is configured', (command) => {
    const loaded = staticClosure(graph, `commands/${command}.ts`).flatMap((m) => m.packages.filter((p) => /^(age-encryption|prom-client)$/.test(p)).map((p) => `${m.path}: ${p}`));
    expect(loaded).toEqual([]);
  });

  it('inspects a snapshot file without loading the S3 SDK, gRPC or age', () => {
    expect(heavyIn('commands/inspect.ts')).toEqual([]);
    expect(heavyIn('ops/open-snapshot.ts')).toEqual([]);
    expect(heavyIn('ops/inspect-keys.ts')).toEqual([]);
  });
});
