import { realpathSync } from 'node:fs';

/**
 * The time zone RS_SCHEDULE is read in: the process's own, as node-cron reads it (`TZ`, an IANA name such as
 * `Europe/Berlin`; the system's zone when unset, UTC in the image). Node takes a `TZ` it does not know
 * (`Europe/berlin`, `CEST`) for UTC without a word, so a schedule meant for 02:00 in Berlin ran at 02:00 UTC: that is
 * refused, naming the value.
 */
export function scheduleTimeZone(env: Record<string, string | undefined> = process.env): { zone: string } | { problem: string } {
  const resolved = Intl.DateTimeFormat().resolvedOptions().timeZone as string | undefined;
  const tz = env.TZ ?? '';
  // An empty TZ is UTC to the C library, and "Etc/Unknown" to ICU.
  if (resolved !== undefined) return { zone: resolved === 'Etc/Unknown' ? 'UTC' : resolved };
  // A zone given as a path (`/usr/share/zoneinfo/Europe/Berlin`, `:Europe/Berlin`) works, though ICU names none.
  const offsets = [0, 6].map((month) => new Date(Date.UTC(2026, month, 1)).getTimezoneOffset());
  if (offsets.some((o) => o !== 0) || UTC_NAME.test(tz) || UTC_NAME.test(zoneFile(tz))) return { zone: tz };
  return {
    problem:
      `TZ=${JSON.stringify(tz)} is not a time zone Node.js knows (IANA names such as Europe/Berlin, as written there), so RS_SCHEDULE ` +
      'would run in UTC: correct TZ, or unset it for the system\'s zone (UTC in the image)',
  };
}

const UTC_NAME = /(^|[/:])(UTC|UCT|GMT|Zulu|Universal)$/;

/**
 * The file a TZ given as a path names, links followed: `TZ=:/etc/localtime` (set in many images to spare the C
 * library a stat per call) names the system's zone, which is UTC when the link ends in `zoneinfo/Etc/UTC`. '' when
 * TZ is no path or the file is missing.
 */
function zoneFile(tz: string): string {
  const path = tz.replace(/^:/, '');
  if (!path.startsWith('/')) return '';
  try {
    return realpathSync(path);
  } catch {
    return '';
  }
}
