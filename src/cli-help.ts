import { flagsOf, type CommandTable } from './cli-args.js';
import { TOOL_VARIABLES } from './config/tool-variables.js';
import { GROUPS, VARIABLES, type VariableGroup } from './config/variables.js';

const WIDTH = 110;

/** The forms a command is run by: its usage lines, then the sub-command forms that reach it (`backup delete`). */
export function usageLines(table: CommandTable, command: string): string[] {
  const spec = table.commands[command]!;
  const lines = spec.usage.map((u, i) => `${i === 0 ? 'usage:' : '   or:'} reshifter ${u}`);
  for (const [parent, subs] of Object.entries(table.subcommands)) {
    for (const [sub, target] of Object.entries(subs)) {
      if (target === command && parent !== command) lines.push(`   or: reshifter ${parent} ${sub}${spec.usage[0]!.slice(command.length)}`);
    }
  }
  return lines;
}

/** `reshifter <command> --help` and `reshifter help <command>`: usage, what it does, its options and its variables. */
export function commandHelp(table: CommandTable, command: string): string {
  const spec = table.commands[command]!;
  const lines = [...usageLines(table, command), '', `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`];
  if (spec.about) lines.push(...spec.about);
  const subs = table.subcommands[command];
  if (subs) lines.push('', `sub-commands: ${Object.entries(subs).map(([s, t]) => `${command} ${s} (= ${t})`).join(', ')}`);
  const flags = flagsOf(table, spec);
  lines.push('', 'options:');
  const label = (f: { name: string; value?: string }) => `--${f.name}${f.value ? ` ${f.value}` : ''}`;
  const width = Math.max(...flags.map((f) => label(f).length), '--help'.length) + 2;
  for (const f of flags) lines.push(`  ${label(f).padEnd(width)}${f.help}`);
  lines.push(`  ${'--help'.padEnd(width)}this help`);
  lines.push('', 'variables it reads (README, Configuration):');
  lines.push(...variableLines([...spec.uses, 'general']));
  return lines.join('\n');
}

/** One line (wrapped) per group: its name, then its variables. */
function variableLines(groups: readonly VariableGroup[]): string[] {
  const order = Object.keys(GROUPS) as VariableGroup[];
  const used = order.filter((g) => groups.includes(g));
  const width = Math.max(...used.map((g) => GROUPS[g].length)) + 2;
  const lines: string[] = [];
  for (const g of used) {
    const names = VARIABLES.filter((v) => v.group === g || v.alsoIn?.includes(g)).map((v) => v.name);
    const words = names.map((name, i) => (i < names.length - 1 ? `${name},` : name));
    const borrowed = VARIABLES.filter((v) => v.group === g).flatMap((v) => TOOL_VARIABLES[v.name] ?? []);
    if (borrowed.length > 0) {
      const others = [...new Set(borrowed.map((e) => e.name))];
      words.push('(where', 'unset:', ...borrowed[0]!.tool.split(' '), ...others.map((name, i) => (i < others.length - 1 ? `${name},` : `${name})`)));
    }
    let line = `  ${GROUPS[g].padEnd(width)}`;
    for (const word of words) {
      if (line.length + word.length + 1 > WIDTH && line.trim() !== GROUPS[g]) {
        lines.push(line.trimEnd());
        line = `  ${''.padEnd(width)}`;
      }
      line += `${word} `;
    }
    lines.push(line.trimEnd());
  }
  return lines;
}

/** `reshifter help`: every command with its summary, and how to get more. */
export function generalHelp(table: CommandTable, notes: readonly string[]): string {
  const lines = ['usage: reshifter <command> [arguments] [options]', '', 'commands:'];
  const names = Object.keys(table.commands);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  for (const [name, spec] of Object.entries(table.commands)) {
    lines.push(`  ${name.padEnd(width)}${spec.summary}`);
    const subs = table.subcommands[name];
    if (subs) lines.push(`  ${''.padEnd(width)}(${Object.entries(subs).map(([s, t]) => `${name} ${s} = ${t}`).join(', ')})`);
  }
  lines.push('', ...notes, '', 'Run "reshifter help <command>" (or "reshifter <command> --help") for its arguments, options and variables.');
  return lines.join('\n');
}
