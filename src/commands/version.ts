import { VERSION } from '../version.js';
import type { CommandContext } from './context.js';

/** `reshifter version [--json]`. */
export async function versionCommand(ctx: CommandContext): Promise<void> {
  if (ctx.args.flags.json) ctx.print(JSON.stringify({ version: VERSION, node: process.version }));
  else ctx.print(`reshifter ${VERSION} (node ${process.version})`);
}
