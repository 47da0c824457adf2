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
  // `UTC+5` is POSIX's 5 hours *behind* UTC, ICU takes `GMT+2` for 2 hours ahead while the clock goes 2 behind, and
  // `UTC+05:30` for UTC: whatever was meant, the schedule or the line that names its zone is wrong.
  if (/^:?(UTC|GMT|UT)[+-]\d/i.test(tz)) return { problem: posixOffsetProblem(tz) };
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

function posixOffsetProblem(tz: string): string {
  return (
    `TZ=${JSON.stringify(tz)} is an offset from UTC, which POSIX counts westwards (TZ=UTC+5 is 5 hours behind UTC) and ` +
    'Node.js reads in its own ways, so RS_SCHEDULE would not run when meant: name the zone (Asia/Kolkata, Europe/Berlin), ' +
    'or give Etc/GMT-5 for 5 hours ahead of UTC and Etc/GMT+5 for 5 hours behind'
  );
}
