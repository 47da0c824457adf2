import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

/**
 * RS_SCHEDULE is read in the time zone of TZ, as node-cron reads it. `run` says which zone in its "scheduler started"
 * line, and refuses a TZ that Node does not know (it would take it for UTC without a word: a 02:00 backup meant for
 * Berlin ran at 02:00 UTC). `run` is stopped with SIGTERM once the scheduler has started; no etcd is needed for that.
 */
describe('the time zone of RS_SCHEDULE', { concurrent: true }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-tz-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `run` with `tz` (undefined: TZ unset) and returns its exit code and the "scheduler started" line. */
  async function started(tz: string | undefined): Promise<{ code: number | null; stderr: string; line?: Record<string, unknown> }> {
    const env: Record<string, string> = { RS_BACKUP_DIR: join(dir, 'store'), RS_SCHEDULE: '0 3 * * *', RS_HTTP_PORT: String(await freePort()), ...(tz !== undefined && { TZ: tz }) };
    const res = await runCli(['run'], env, {
      timeoutMs: 30_000,
      onStart: (child) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('"scheduler started"') && child.kill('SIGTERM')),
    });
    const line = res.stderr.split('\n').find((l) => l.includes('"scheduler started"'));
    return { code: res.code, stderr: res.stderr, ...(line !== undefined && { line: JSON.parse(line) as Record<string, unknown> }) };
  }

  it('schedules in the zone TZ names, and says which', async () => {
    // UTC+14 all year: 03:00 there is 13:00 UTC the day before.
    const { code, line } = await started('Pacific/Kiritimati');
    expect(code).toBe(0);
    expect(line?.timeZone).toBe('Pacific/Kiritimati');
    expect(line?.next).toMatch(/T13:00:00\.000Z$/);
  });

  it('schedules in UTC when TZ is UTC', async () => {
    const { line } = await started('UTC');
    expect(line?.timeZone).toBe('UTC');
    expect(line?.next).toMatch(/T03:00:00\.000Z$/);
  });

  it.skipIf(!existsSync('/usr/share/zoneinfo/Europe/Berlin'))('takes a zone given as a file of the system (TZ=/usr/share/zoneinfo/...), which ICU names none', async () => {
    const { code, line } = await started('/usr/share/zoneinfo/Europe/Berlin');
    expect(code).toBe(0);
    expect(line?.timeZone).toBe('/usr/share/zoneinfo/Europe/Berlin');
    // 03:00 in Berlin: 02:00 UTC in winter, 01:00 in summer.
    expect(line?.next).toMatch(/T0[12]:00:00\.000Z$/);
  });

  it.skipIf(!existsSync('/usr/share/zoneinfo/Etc/UTC'))('takes TZ=:/etc/localtime when that link names UTC, as many images set it', async () => {
    // Before: refused as a zone Node does not know, since ICU names none and UTC's offset is 0 all year. The link is
    // made here, so the test does not depend on this machine's zone.
    const link = join(dir, 'localtime');
    await symlink('/usr/share/zoneinfo/Etc/UTC', link);
    const { code, stderr, line } = await started(`:${link}`);
    expect(code, stderr).toBe(0);
    // ICU names the link's zone (UTC) on some runs and none on others, which the line then shows as TZ gives it.
    expect([`:${link}`, 'UTC']).toContain(line?.timeZone);
    expect(line?.next).toMatch(/T03:00:00\.000Z$/);
  });

  it.each(['UTC+5', 'GMT+2', 'UTC+05:30'])('refuses TZ=%s, an offset Node reads otherwise than meant, before starting', async (tz) => {
    // Before: UTC+5 ran 5 hours behind UTC (POSIX), GMT+2 was named "+02:00" while it ran 2 hours behind, and
    // UTC+05:30 ran in UTC, each without a word.
    const { code, stderr, line } = await started(tz);
    expect(code).toBe(2);
    expect(line).toBeUndefined();
    expect(stderr).toContain(`  - TZ="${tz}" is an offset from UTC, which POSIX counts westwards (TZ=UTC+5 is 5 hours behind UTC)`);
    expect(stderr).toContain('give Etc/GMT-5 for 5 hours ahead of UTC');
  });

  it.each(['Europe/berlin', 'CEST', 'Mars/Olympus_Mons'])('refuses TZ=%s, which Node would take for UTC, before starting', async (tz) => {
    const { code, stderr, line } = await started(tz);
    expect(code).toBe(2);
    expect(line).toBeUndefined();
    expect(stderr).toContain(
      `reshifter: configuration error:\n  - TZ="${tz}" is not a time zone Node.js knows (IANA names such as Europe/Berlin, as written there), so RS_SCHEDULE would run in UTC: correct TZ, or unset it for the system's zone (UTC in the image)\n`,
    );
  });
});
