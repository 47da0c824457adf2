import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli.js';
import { ConfigError } from '../../../src/core/errors.js';

describe('restore and stats arguments', () => {
  it('takes --data-dir and the member flags as values', () => {
    const inv = parseArgs(['restore', 'latest', '--data-dir', '/var/lib/etcd-new', '--name', 'm1', '--initial-cluster', 'm1=http://a:2380', '--initial-advertise-peer-urls=http://a:2380']);
    expect(inv).not.toBe('help');
    if (inv === 'help') return;
    expect(inv.command).toBe('restore');
    expect(inv.args).toEqual({
      positionals: ['latest'],
      flags: { 'data-dir': '/var/lib/etcd-new', name: 'm1', 'initial-cluster': 'm1=http://a:2380', 'initial-advertise-peer-urls': 'http://a:2380' },
    });
  });

  it('takes --dry-run and --skip-existing as switches; refuses flags of other commands', () => {
    const inv = parseArgs(['restore', 'x', '--dry-run', '--skip-existing', '--json']);
    if (inv === 'help') throw new Error('help');
    expect(inv.args.flags).toEqual({ 'dry-run': true, 'skip-existing': true, json: true });
    expect(() => parseArgs(['stats', '--dry-run'])).toThrow(ConfigError);
    expect(() => parseArgs(['restore', 'x', '--data-dir'])).toThrow(/--data-dir needs a value/);
    const stats = parseArgs(['stats', 'latest', '--keys', '--json']);
    if (stats === 'help') throw new Error('help');
    expect(stats.args).toEqual({ positionals: ['latest'], flags: { keys: true, json: true } });
  });
});
