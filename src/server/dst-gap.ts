import cron from 'node-cron';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * When the clocks go forward (daylight saving time starts), the local times of the hour skipped do not exist, and
 * node-cron passes over a slot set in it: `30 2 * * *` with TZ=Europe/Berlin runs on March 27, then on March 29,
 * leaving two days between backups. As cron does, such a slot of a schedule with set hours runs at the first instant
 * after the gap (03:00 local). A schedule that runs every hour loses no time there (01:30 to 03:30 is one hour) and
 * gets no extra slot. Local time is the process's (TZ), as node-cron's.
 *
 * Returns the instant of the first forward change in [from, to) whose skipped local times the schedule names, or
 * undefined.
 */
export function skippedSlotBetween(schedule: string, from: Date, to: Date): Date | undefined {
  const fields = cron.parse(schedule);
  if (fields.hour.length >= 24) return undefined;
  for (let t = from.getTime(); t < to.getTime(); t += HOUR) {
    const next = Math.min(t + HOUR, to.getTime());
    const before = offsetAt(t);
    // getTimezoneOffset is UTC minus local: it shrinks when the clocks go forward.
    if (offsetAt(next) >= before) continue;
    const at = changeBetween(t, next, before);
    // The first local time skipped, as a UTC date holding the local fields: the local time just before the change.
    const skippedFrom = at - before * MINUTE;
    for (let m = 0; m < before - offsetAt(at); m++) {
      if (matches(fields, new Date(skippedFrom + m * MINUTE))) return new Date(at);
    }
  }
  return undefined;
}

function offsetAt(ms: number): number {
  return new Date(ms).getTimezoneOffset();
}

/** The first whole minute in (lo, hi] at which the offset is no longer `before` (lo has it, hi does not). */
function changeBetween(lo: number, hi: number, before: number): number {
  let a = Math.floor(lo / MINUTE);
  let b = Math.ceil(hi / MINUTE);
  while (b - a > 1) {
    const mid = Math.floor((a + b) / 2);
    if (offsetAt(mid * MINUTE) === before) a = mid;
    else b = mid;
  }
  return b * MINUTE;
}

/** Whether a local minute (its fields as UTC fields) is one the schedule names, any second of it. */
function matches(f: ReturnType<typeof cron.parse>, local: Date): boolean {
  const day = local.getUTCDay();
  const has = (list: ReadonlyArray<number | string>, n: number) => list.some((v) => Number(v) === n);
  return (
    has(f.minute, local.getUTCMinutes()) &&
    has(f.hour, local.getUTCHours()) &&
    has(f.month, local.getUTCMonth() + 1) &&
    has(f.dayOfMonth, local.getUTCDate()) &&
    (has(f.dayOfWeek, day) || (day === 0 && has(f.dayOfWeek, 7)))
  );
}
