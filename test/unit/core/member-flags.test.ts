import { describe, expect, it } from 'vitest';
import { memberFlagProblems } from '../../../src/core/member-flags.js';

describe('the member flags of a snapshot restore, checked before any download', () => {
  it('accepts what etcd accepts: a named member with its URLs, several members, host names left to etcd, no flags at all', () => {
    expect(memberFlagProblems({})).toEqual([]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://10.0.0.5:2380', initialAdvertisePeerUrls: 'https://10.0.0.5:2380' })).toEqual([]);
    expect(memberFlagProblems({ name: 'm2', initialCluster: 'm1=https://10.0.0.5:2380,m2=https://10.0.0.6:2380,m3=https://10.0.0.7:2380', initialAdvertisePeerUrls: 'https://10.0.0.6:2380' })).toEqual([]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://etcd-0.etcd:2380', initialAdvertisePeerUrls: 'https://10.0.0.5:2380' })).toEqual([]);
  });

  it('names a member missing from --initial-cluster, a URL without scheme, advertise URLs that differ', () => {
    expect(memberFlagProblems({ name: 'm2', initialCluster: 'm1=https://10.0.0.5:2380', initialAdvertisePeerUrls: 'https://10.0.0.5:2380' })).toEqual([
      "--name m2, and --initial-cluster names m1: give the member's --name and the whole cluster, like --name m1 --initial-cluster m1=https://10.0.0.5:2380,...",
    ]);
    expect(memberFlagProblems({ name: 'm1' })[0]).toMatch(/^--name m1, and --initial-cluster is not given \(etcd takes default=http:\/\/localhost:2380\)/);
    expect(memberFlagProblems({ initialCluster: 'm1=https://10.0.0.5:2380' })[0]).toMatch(/^--name is not given \(etcd takes "default"\), and --initial-cluster names m1/);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=10.0.0.5:2380' })).toEqual([
      '--initial-cluster has "m1=10.0.0.5:2380", which is not name=URL with http:// or https:// (like m1=https://10.0.0.5:2380)',
    ]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://10.0.0.5:2380' })).toEqual([
      '--initial-advertise-peer-urls is not given (etcd takes http://localhost:2380), but --initial-cluster gives member m1 https://10.0.0.5:2380: give --initial-advertise-peer-urls https://10.0.0.5:2380',
    ]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://10.0.0.5:2380', initialAdvertisePeerUrls: 'https://10.0.0.6:2380' })[0]).toMatch(/^--initial-advertise-peer-urls https:\/\/10.0.0.6:2380, but/);
  });

  it('refuses spaces etcd would keep, and one peer URL given to two members; a member with two URLs is fine', () => {
    const cluster = 'm1=https://10.0.0.5:2380,m2=https://10.0.0.6:2380';
    expect(memberFlagProblems({ name: 'm2', initialCluster: 'm1=https://10.0.0.5:2380, m2=https://10.0.0.6:2380', initialAdvertisePeerUrls: 'https://10.0.0.6:2380' })).toEqual([
      `--initial-cluster has " m2=https://10.0.0.6:2380", with a space etcd would keep (it reads the list as it is: a member name with a space in it): give --initial-cluster ${cluster}`,
    ]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: cluster, initialAdvertisePeerUrls: ' https://10.0.0.5:2380' })[0]).toMatch(/^--initial-advertise-peer-urls has " https:\/\/10.0.0.5:2380", with a space .*: give --initial-advertise-peer-urls https:\/\/10.0.0.5:2380$/);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://10.0.0.5:2380,m2=https://10.0.0.5:2380', initialAdvertisePeerUrls: 'https://10.0.0.5:2380' })).toEqual([
      '--initial-cluster gives https://10.0.0.5:2380 to both m1 and m2: each member needs its own peer URL (a member\'s line copied without changing it?)',
    ]);
    expect(memberFlagProblems({ name: 'm1', initialCluster: 'm1=https://10.0.0.5:2380,m1=https://10.0.1.5:2380', initialAdvertisePeerUrls: 'https://10.0.0.5:2380,https://10.0.1.5:2380' })).toEqual([]);
  });
});
