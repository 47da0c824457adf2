import { BUILD_COMMIT, VERSION } from '../version.js';
import type { CommandContext } from './context.js';

/** `reshifter version [--json]`. */
export async function versionCommand(ctx: CommandContext): Promise<void> {
  // The commit tells builds apart: package.json's version is not bumped per change. None in a build without git.
  if (ctx.args.flags.json) ctx.print(JSON.stringify({ version: VERSION, ...(BUILD_COMMIT !== undefined && { commit: BUILD_COMMIT }), node: process.version }));
  else ctx.print(`reshifter ${VERSION}${BUILD_COMMIT !== undefined ? ` commit ${BUILD_COMMIT}` : ''} (node ${process.version})`);
}
