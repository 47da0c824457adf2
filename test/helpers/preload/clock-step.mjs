// Preloaded with NODE_OPTIONS=--import (plain JavaScript: Node runs it as it is): the machine's clock stepped, as
// NTP or an operator steps it, without changing the machine's. Once the file RESHIFTER_TEST_CLOCK_STEP names exists,
// Date.now() and new Date() read its number of milliseconds off (negative: the clock went back); timers, which run
// on the monotonic clock, are untouched, as on a real machine. A file there from the start steps it from the start.
// Once a step is in effect, `<file>.applied` exists: a test waits for it rather than for a guessed time.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const file = process.env.RESHIFTER_TEST_CLOCK_STEP;
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
let offset = 0;
if (file !== undefined && existsSync(file)) offset = Number(readFileSync(file, 'utf8'));
else if (file !== undefined) {
  const poll = setInterval(() => {
    if (!existsSync(file)) return;
    offset = Number(readFileSync(file, 'utf8'));
    clearInterval(poll);
    writeFileSync(`${file}.applied`, '');
  }, 50);
  poll.unref();
}
class SteppedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + offset);
    else super(...args);
  }
  static now() {
    return realNow() + offset;
  }
}
globalThis.Date = SteppedDate;
