// Preloaded with NODE_OPTIONS=--import (plain JavaScript: Node runs it as it is): holds the loading of the built
// CLI's dist/cli.js for RESHIFTER_TEST_HOLD_MS and writes RESHIFTER_TEST_LOAD_MARKER when the hold begins, so that a test can
// signal the process while its modules load, which otherwise takes a fraction of a second.
import { register } from 'node:module';

register(new URL('./slow-cli-load-hooks.mjs', import.meta.url));
