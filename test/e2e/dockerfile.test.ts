import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_NODE_MAJOR } from '../../src/runtime.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

interface Instruction {
  op: string;
  args: string;
  /** The JSON (exec) form, when the arguments are one. */
  json?: string[];
}

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (pending === '' && /^\s*#/.test(raw)) continue;
    if (/^\s*#/.test(raw)) continue; // comments inside a continued RUN
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const m = /^(\w+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`cannot parse ${JSON.stringify(full)}`);
    const args = m[2]!.trim();
    let json: string[] | undefined;
    if (args.startsWith('[')) json = JSON.parse(args) as string[];
    out.push({ op: m[1]!.toUpperCase(), args, ...(json && { json }) });
  }
  return out;
}

/** A `.dockerignore` of `*` plus `!` exceptions, as ours is: is `path` sent to the build? */
function inContext(path: string, ignore: string[]): boolean {
  let included = true;
  for (const rule of ignore) {
    const neg = rule.startsWith('!');
    const pat = neg ? rule.slice(1) : rule;
    const re = new RegExp(`^${pat.replace(/\/$/, '').replace(/\./g, '\\.').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
    if (re.test(path)) included = neg;
  }
  return included;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/** Stages: their name, base image and instructions. */
const stages = (() => {
  const list: Array<{ name?: string; from: string; body: Instruction[] }> = [];
  for (const ins of dockerfile) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      list.push({ from: m[1]!, ...(m[2] && { name: m[2] }), body: [] });
    } else list.at(-1)?.body.push(ins);
  }
  return list;
})();
const final = stages.at(-1)!;
/** The node flags of dist/main.js's shebang (`#!/usr/bin/env -S node --flag`): the image runs it the same way. */
const nodeFlagsOfMain = () => readFileSync(join(ROOT, 'dist/main.js'), 'utf8').split('\n')[0]!.split(/\s+/).slice(3);
const workdirOf = (body: Instruction[]) => body.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';

let scratch: string | undefined;
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  it('is multi-stage on Node LTS, and the image runs as a non-root user with NODE_ENV=production', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const args = Object.fromEntries(dockerfile.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
    for (const s of stages) {
      const image = s.from.replace('${NODE_VERSION}', args.NODE_VERSION ?? '');
      expect(image).toMatch(/^node:(24|26)-/); // LTS lines still under security support (Node 20 ended April 2026)
    }
    expect(final.body.filter((i) => i.op === 'USER').at(-1)?.args).toBe('node');
    expect(final.body.some((i) => i.op === 'ENV' && /NODE_ENV=production/.test(i.args))).toBe(true);
    const runs = stages.flatMap((s) => s.body.filter((i) => i.op === 'RUN').map((i) => i.args));
    expect(runs.some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /npm run build/.test(r))).toBe(true);
  });

  it('ships the one Node.js major that .nvmrc, engines, @types/node and CI (scripts/install-node.sh) use', () => {
    const args = Object.fromEntries(dockerfile.filter((i) => i.op === 'ARG').map((i) => i.args.split('=') as [string, string]));
    const major = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim().replace(/^v/, '');
    expect(major).toMatch(/^\d+$/);
    expect(args.NODE_VERSION).toBe(major);
    for (const s of stages) expect(s.from).toBe('node:${NODE_VERSION}-bookworm-slim');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };
    expect(pkg.engines.node).toBe(`>=${major}`);
    // The CLI refuses older majors with that one's name (src/runtime.ts).
    expect(MIN_NODE_MAJOR).toBe(Number(major));
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
    // CI puts that major first in PATH before it installs and tests anything.
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci.indexOf('scripts/install-node.sh')).toBeGreaterThan(0);
    expect(ci.indexOf('scripts/install-node.sh')).toBeLessThan(ci.indexOf('npm ci'));
    // And there, this test itself runs on it.
    if (process.env.CI) expect(process.versions.node.split('.')[0]).toBe(major);
  });

  it('copies only files that exist after `npm run build` and are in the build context', () => {
    const missing: string[] = [];
    for (const s of stages) {
      for (const ins of s.body.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
        const parts = ins.json ?? ins.args.split(/\s+/);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const sources = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
        expect(sources.length, ins.args).toBeGreaterThan(0);
        for (const src of sources) {
          let path: string;
          if (from !== undefined) {
            // Earlier stages build this repository in their WORKDIR; map their paths back onto it.
            const stage = stages.find((x) => x.name === from);
            expect(stage, `stage ${from}`).toBeDefined();
            path = relative(workdirOf(stage!.body), src);
          } else {
            path = src.replace(/^\.\//, '').replace(/\/$/, '');
            if (!inContext(path, ignore)) missing.push(`${src} (excluded by .dockerignore)`);
          }
          if (!existsSync(join(ROOT, path))) missing.push(src);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(existsSync(join(ROOT, 'dist/main.js'))).toBe(true);
  });

  it('gives the build stage everything `npm run build` reads', () => {
    const build = stages.find((s) => s.body.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)))!;
    const copied = build.body
      .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => (i.json ?? i.args.split(/\s+/)).filter((p) => !p.startsWith('--')).slice(0, -1))
      .map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // Files the build script names (tsc's project file, helper scripts), and the folders tsc compiles.
    const needed = pkg.scripts.build!.split(/\s+/).filter((w) => /\.(m?js|json)$/.test(w));
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { extends?: string; include: string[] };
    needed.push(...tsconfig.include, ...(tsconfig.extends ? [tsconfig.extends.replace(/^\.\//, '')] : []), 'package-lock.json');
    const missing = needed.filter((n) => !copied.some((c) => n === c || n.startsWith(`${c}/`)));
    expect(missing).toEqual([]);
    for (const n of needed) expect(inContext(n, ignore), `${n} is excluded by .dockerignore`).toBe(true);
  });

  it('has an init and an ENTRYPOINT that runs dist/main.js with node directly, with backup as the default command', () => {
    const entry = final.body.find((i) => i.op === 'ENTRYPOINT')?.json;
    expect(entry).toBeDefined();
    const node = entry!.indexOf('node');
    expect(node).toBeGreaterThanOrEqual(0);
    // node's own flags may come first; then the script itself, never npm.
    const script = entry!.slice(node + 1).find((a) => !a.startsWith('--'));
    expect(script).toMatch(/^\/app\/dist\/main\.js$/);
    expect(entry!.slice(node + 1, entry!.indexOf(script!))).toEqual(nodeFlagsOfMain());
    expect(entry!.slice(0, node)).toEqual(['/usr/bin/tini', '--']);
    expect(final.body.some((i) => i.op === 'RUN' && /apt-get install .*\btini\b/.test(i.args))).toBe(true);
    expect(final.body.find((i) => i.op === 'CMD')?.json).toEqual(['backup']);
  });

  it('runs the entrypoint with `version` from the image layout, with production dependencies only', async () => {
    // The final stage's files, laid out as the image has them: production node_modules, dist/ and package.json.
    scratch = mkdtempSync(join(tmpdir(), 'rs-image-'));
    const app = join(scratch, 'app');
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    // The build stage has no .git, so its dist/ holds no build.json (scripts/build-commit.mjs): nor does this copy.
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true, filter: (src) => src !== join(ROOT, 'dist', 'build.json') });
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 240_000 });
    const entry = final.body.find((i) => i.op === 'ENTRYPOINT')!.json!;
    const argv = entry.slice(entry.indexOf('node')).map((a) => a.replace(/^\/app\//, `${app}/`));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production' };
    const { stdout } = await run(argv[0]!, [...argv.slice(1), 'version'], { cwd: app, env });
    expect(stdout).toMatch(/^reshifter \d+\.\d+\.\d+ \(node v/);
    // Every command module loads without devDependencies (a stray import of one would fail here).
    const load = `const fs = await import('node:fs');
      const files = fs.readdirSync('dist/commands').filter((f) => f.endsWith('.js'));
      for (const f of files) await import('./dist/commands/' + f);
      console.log(files.length);`;
    const loaded = await run('node', ['--input-type=module', '-e', load], { cwd: app, env });
    expect(Number(loaded.stdout)).toBe(readdirSync(join(ROOT, 'src/commands')).filter((f) => f.endsWith('.ts')).length);
  }, 300_000);
});
