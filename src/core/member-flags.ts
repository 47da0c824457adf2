/** The member flags of `snapshot restore` (etcdutl / etcdctl), each undefined when not given. */
export interface MemberFlags {
  name?: string;
  initialCluster?: string;
  initialAdvertisePeerUrls?: string;
}

// etcd's defaults for a flag left out.
const DEFAULT_NAME = 'default';
const DEFAULT_PEER_URL = 'http://localhost:2380';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** A host that names one address without DNS: an IP literal or localhost. */
const literal = (host: string) => IPV4.test(host) || host.startsWith('[') || host === 'localhost';

function parseUrl(text: string): URL | undefined {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' ? u : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What `snapshot restore` would refuse in the member flags, found before a backup is downloaded (it can take many
 * minutes): an `--initial-cluster` entry that is not `name=URL`, a `--name` (default "default") that
 * `--initial-cluster` does not list, `--initial-advertise-peer-urls` (default http://localhost:2380) that differ from
 * that member's URLs there (checked only for IP literals and localhost: etcd resolves host names itself).
 */
export function memberFlagProblems(f: MemberFlags): string[] {
  const name = f.name ?? DEFAULT_NAME;
  const cluster = f.initialCluster ?? `${DEFAULT_NAME}=${DEFAULT_PEER_URL}`;
  const spaced = spaceProblems(f);
  if (spaced.length > 0) return spaced;
  const members = new Map<string, URL[]>();
  const problems: string[] = [];
  for (const entry of cluster.split(',').filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    const url = eq > 0 ? parseUrl(entry.slice(eq + 1)) : undefined;
    if (url === undefined) {
      problems.push(`--initial-cluster has ${JSON.stringify(entry)}, which is not name=URL with http:// or https:// (like m1=https://10.0.0.5:2380)`);
      continue;
    }
    members.set(entry.slice(0, eq), [...(members.get(entry.slice(0, eq)) ?? []), url]);
  }
  if (problems.length > 0) return problems;
  const shared = sharedUrlProblem(members);
  if (shared !== undefined) return [shared];
  const own = members.get(name);
  if (own === undefined) {
    const who = f.name === undefined ? '--name is not given (etcd takes "default")' : `--name ${name}`;
    const list = f.initialCluster === undefined ? '--initial-cluster is not given (etcd takes default=http://localhost:2380)' : `--initial-cluster names ${[...members.keys()].join(', ')}`;
    return [`${who}, and ${list}: give the member's --name and the whole cluster, like --name m1 --initial-cluster m1=https://10.0.0.5:2380,...`];
  }
  const advertised = (f.initialAdvertisePeerUrls ?? DEFAULT_PEER_URL).split(',').map((u) => u.trim()).filter((u) => u !== '');
  const urls = advertised.map(parseUrl);
  if (urls.some((u) => u === undefined)) return [`--initial-advertise-peer-urls ${JSON.stringify(f.initialAdvertisePeerUrls)} is not a list of http:// or https:// URLs`];
  const norm = (us: URL[]) => us.map((u) => u.origin).sort().join(',');
  if ([...own, ...(urls as URL[])].every((u) => literal(u.hostname)) && norm(own) !== norm(urls as URL[])) {
    const ownUrls = own.map((u) => u.origin).join(',');
    const given = f.initialAdvertisePeerUrls === undefined ? 'is not given (etcd takes http://localhost:2380)' : advertised.join(',');
    return [`--initial-advertise-peer-urls ${given}, but --initial-cluster gives member ${name} ${ownUrls}: give --initial-advertise-peer-urls ${ownUrls}`];
  }
  return [];
}

/**
 * etcd reads the lists as they are, spaces included: `m1=...,␣m2=...` names a member " m2" (so member m2's own
 * restore fails with "couldn't find local name"), and a URL with a space does not parse. Refused, with the list as
 * etcd needs it.
 */
function spaceProblems(f: MemberFlags): string[] {
  const lists: [string, string | undefined][] = [
    ['--initial-cluster', f.initialCluster],
    ['--initial-advertise-peer-urls', f.initialAdvertisePeerUrls],
  ];
  return lists
    .filter(([, v]) => v !== undefined && /\s/.test(v))
    .map(([flag, v]) => {
      const entry = v!.split(',').find((e) => /\s/.test(e))!;
      return `${flag} has ${JSON.stringify(entry)}, with a space etcd would keep (it reads the list as it is: ${flag === '--initial-cluster' ? 'a member name with a space in it' : 'a URL that does not parse'}): give ${flag} ${v!.replace(/\s+/g, '')}`;
    });
}

/** One peer URL given to two members: etcd refuses the list ("has duplicate url"), but only once the backup is downloaded. */
function sharedUrlProblem(members: Map<string, URL[]>): string | undefined {
  const owner = new Map<string, string>();
  for (const [member, urls] of members) {
    for (const u of urls) {
      const other = owner.get(u.origin);
      if (other !== undefined && other !== member) {
        return `--initial-cluster gives ${u.origin} to both ${other} and ${member}: each member needs its own peer URL (a member's line copied without changing it?)`;
      }
      owner.set(u.origin, member);
    }
  }
  return undefined;
}
