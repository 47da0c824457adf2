import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest, type Manifest } from '../../../src/archive/manifest.js';
import { IntegrityError } from '../../../src/core/errors.js';
import { sourceMembersWarning } from '../../../src/core/source-members-warning.js';

/** A snapshot manifest as written before `etcd.members` was recorded. */
const OLD: Manifest = {
  format: 1,
  id: '20261122T030710.123Z-a1b2c3',
  cluster: 'prod-eu-1',
  strategy: 'snapshot',
  createdAt: '2026-11-22T03:07:10.123Z',
  artifact: '20261122T030710.123Z-a1b2c3.snapshot.db.zst',
  contentType: 'etcd-snapshot',
  compression: 'zstd',
  encryption: 'none',
  sha256: 'a'.repeat(64),
  sizeBytes: 12345,
  rawSizeBytes: 67890,
  etcd: { version: '3.4.23', revision: 150, apiVersion: 'v3' },
  tool: { name: 'reshifter', version: '0.1.0' },
};

const MEMBERS = [
  { name: 'm1', peerURLs: ['https://10.0.0.5:2380'] },
  { name: 'm2', peerURLs: ['https://10.0.0.6:2380'] },
  { name: 'm3', peerURLs: ['https://10.0.0.7:2380'] },
];

describe("the manifest's etcd.members", () => {
  it('reads a manifest without it (older backups), and one with it, as written', () => {
    const old = parseManifest(serializeManifest(OLD), 'm');
    expect(old.etcd!.members).toBeUndefined();
    expect(sourceMembersWarning(old.etcd!.members, {})).toBeUndefined();
    const withMembers = { ...OLD, etcd: { ...OLD.etcd!, members: MEMBERS } };
    expect(parseManifest(serializeManifest(withMembers), 'm')).toEqual(withMembers);
  });

  it.each([
    ['not a list', { m1: 'x' }],
    ['a member that is not an object', ['m1']],
    ['a name that is not text', [{ name: 7, peerURLs: [] }]],
    ['peer URLs that are not a list of text', [{ name: 'm1', peerURLs: 'https://10.0.0.5:2380' }]],
    ['a URL that is not text', [{ name: 'm1', peerURLs: [{}] }]],
    ['a name longer than any member name', [{ name: 'x'.repeat(5000), peerURLs: [] }]],
    ['thousands of members', Array.from({ length: 5000 }, (_, i) => ({ name: `m${i}`, peerURLs: [] }))],
  ])('refuses %s with an IntegrityError naming the field', (_what, members) => {
    const bytes = JSON.stringify({ ...OLD, etcd: { ...OLD.etcd, members } });
    expect(() => parseManifest(bytes, 'm')).toThrow(IntegrityError);
    expect(() => parseManifest(bytes, 'm')).toThrow(/field "etcd\.members/);
  });
});

describe('the warning of a data-dir restore of several members as one', () => {
  it('names the members and the flags for each, and how to ask for one member outright', () => {
    expect(sourceMembersWarning(MEMBERS, {})).toBe(
      'the backup was taken from a cluster of 3 members, m1 (https://10.0.0.5:2380), m2 (https://10.0.0.6:2380), m3 (https://10.0.0.7:2380), ' +
        'and is restored without --initial-cluster: this data dir becomes a new cluster of one member named "default". ' +
        'To restore the cluster, restore once per member, each with its own --name and --initial-advertise-peer-urls and the same --initial-cluster ' +
        '(with the new peer URLs if they changed), like --name m1 --initial-advertise-peer-urls https://10.0.0.5:2380 ' +
        '--initial-cluster m1=https://10.0.0.5:2380,m2=https://10.0.0.6:2380,m3=https://10.0.0.7:2380. ' +
        'A single member (a copy for development) is fine: say so with --name m1 --initial-cluster m1=https://10.0.0.5:2380 --initial-advertise-peer-urls https://10.0.0.5:2380',
    );
  });

  it('is not said for one member, for --initial-cluster given, or without a member list', () => {
    expect(sourceMembersWarning(MEMBERS.slice(0, 1), {})).toBeUndefined();
    expect(sourceMembersWarning(MEMBERS, { name: 'dev', initialCluster: 'dev=http://127.0.0.1:2380' })).toBeUndefined();
    expect(sourceMembersWarning(undefined, {})).toBeUndefined();
  });

  it('prints control characters in a name escaped, and a member not started yet (no name) by its place', () => {
    const text = sourceMembersWarning([{ name: 'm1\u001b[2J', peerURLs: ['https://10.0.0.5:2380'] }, { name: '', peerURLs: ['https://10.0.0.6:2380'] }], {})!;
    expect(text).toContain('m1\\x1b[2J (https://10.0.0.5:2380), member2 (https://10.0.0.6:2380)');
    expect(text).not.toContain('\u001b');
  });

  it('reads the cluster id and member ids, and refuses ids that are no etcd ids', () => {
    const withIds = { ...OLD, etcd: { ...OLD.etcd!, clusterId: '14841639068965178418', members: [{ ...MEMBERS[0]!, id: '10276657743932975437' }] } };
    expect(parseManifest(serializeManifest(withIds), 'm')).toEqual(withIds);
    const bad = (etcd: object) => () => parseManifest(serializeManifest({ ...OLD, etcd: { ...OLD.etcd!, ...etcd } } as Manifest), 'm');
    expect(bad({ clusterId: 'cdf818194e3a8c32' })).toThrow('field "etcd.clusterId" is not an etcd id (decimal digits)');
    expect(bad({ clusterId: 7 })).toThrow(IntegrityError);
    expect(bad({ members: [{ ...MEMBERS[0]!, id: 12 }] })).toThrow('field "etcd.members[0].id" is not an etcd id (decimal digits)');
  });
});
