import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliResult } from './cli.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
/** GNU time (Debian's `time` package, see scripts/install-deps.sh): %M is the child's ru_maxrss, exact. */
const GNU_TIME = '/usr/bin/time';

/**
 * Runs the built CLI as its launcher line runs it (`#!/usr/bin/env -S node <flags>`, as the image and the bins do),
 * under GNU time, and returns what it printed with its peak RSS in MB.
 */
export async function runCliPeakRss(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult & { peakRssMB: number }> {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install time (scripts/install-deps.sh)`);
  const flags = readFileSync(MAIN, 'utf8').split('\n')[0]!.split(/\s+/).slice(3);
  const dir = await mkdtemp(join(tmpdir(), 'rs-rss-'));
  const statsFile = join(dir, 'time');
  try {
    const res = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(GNU_TIME, ['-f', '%M', '-o', statsFile, process.execPath, ...flags, MAIN, ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
    const lines = (await readFile(statsFile, 'utf8')).trim().split('\n');
    // GNU time adds "Command exited with non-zero status N" before the figures when the command failed.
    return { ...res, peakRssMB: Number(lines[lines.length - 1]) / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
