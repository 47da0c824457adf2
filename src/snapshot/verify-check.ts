/** One line of a verify report. `ok` is false only for failures; a warning is ok but worth showing. */
export interface VerifyCheck {
  name: string;
  ok: boolean;
  level: 'pass' | 'warn' | 'fail';
  detail: string;
}

/** A check that found nothing wrong. */
export function passed(name: string, detail: string): VerifyCheck {
  return { name, ok: true, level: 'pass', detail };
}

/** A check that found something worth telling, which does not stop the file from being used. */
export function warned(name: string, detail: string): VerifyCheck {
  return { name, ok: true, level: 'warn', detail };
}

/** A check that found the file unusable as it is. */
export function failed(name: string, detail: string): VerifyCheck {
  return { name, ok: false, level: 'fail', detail };
}

/** Most problems listed per check; the rest are counted, so a badly damaged file gives a readable report. */
export const MAX_LISTED_PROBLEMS = 20;

/** Collects problem lines up to MAX_LISTED_PROBLEMS and counts the rest. */
export class ProblemList {
  readonly lines: string[] = [];
  total = 0;

  add(line: string): void {
    this.total++;
    if (this.lines.length < MAX_LISTED_PROBLEMS) this.lines.push(line);
  }

  /** A check named `name`: passed with `ok` when empty, failed listing the problems otherwise. */
  toCheck(name: string, ok: string): VerifyCheck {
    if (this.total === 0) return passed(name, ok);
    const more = this.total > this.lines.length ? `; and ${this.total - this.lines.length} more` : '';
    return failed(name, `${this.total} problem(s): ${this.lines.join('; ')}${more}`);
  }
}
