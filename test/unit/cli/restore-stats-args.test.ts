import { describe, expect, it } from 'vitest';
import { parseArgs, type Invocation } from '../../../src/cli.js';
import { ConfigError } from '../../../src/core/errors.js';

function invocation(argv: string[]): Invocation {
  const parsed = parseArgs(argv);
  if (parsed.kind !== 'run') throw new Error(`${argv.join(' ')} asked for help`);
  return parsed.invocation;
}

describe('restore and stats arguments', () => {
  it('takes --data-dir and the member flags as values', () => {
    const inv = invocation(['restore', 'latest', '--data-dir', '/var/lib/etcd-new', '--name', 'm1', '--initial-cluster', 'm1=http://a:2380', '--initial-advertise-peer-urls=http://a:2380']);
    expect(inv.command).toBe('restore');
    expect(inv.args).toEqual({
      positionals: ['latest'],
      flags: { 'data-dir': '/var/lib/etcd-new', name: 'm1', 'initial-cluster': 'm1=http://a:2380', 'initial-advertise-peer-urls': 'http://a:2380' },
    });
  });

  it('takes --dry-run and --skip-existing as switches; refuses flags of other commands', () => {
    expect(invocation(['restore', 'x', '--dry-run', '--skip-existing', '--json']).args.flags).toEqual({ 'dry-run': true, 'skip-existing': true, json: true });
    expect(() => parseArgs(['stats', '--dry-run'])).toThrow(ConfigError);
    expect(() => parseArgs(['restore', 'x', '--data-dir'])).toThrow(/--data-dir needs a value/);
    expect(invocation(['stats', 'latest', '--keys', '--json']).args).toEqual({ positionals: ['latest'], flags: { keys: true, json: true } });
  });
});
