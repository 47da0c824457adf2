import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import type { KeyRecord } from '../core/key-record.js';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import type { Logger } from '../log.js';
import { resolveApiVersion } from './api-version.js';
import { describeError } from '../core/errors.js';
import { toEtcdError } from './errors.js';
import { normalisePrefixes, prefixRanges } from './key-ranges.js';
import { countV3Prefixes, findV2Prefixes, v2KeysOutside, v3KeysOutside, type KeysOutside } from './kube-prefixes.js';
import { PagedReader, type PagedReadOptions } from './paged-reader.js';
import { V2Client } from './v2-client.js';

/** A consistent read of the Kubernetes keys of an etcd, a page at a time. */
export interface KeyReader {
  apiVersion: 'v2' | 'v3';
  etcdVersion: string;
  /** v3: the revision every page is read at; v2: the etcd index when the walk started. */
  revision: number;
  /**
   * The prefixes read (`/` = every key), those without keys too: the scope of what is read, which a dump's manifest
   * records. A key under one of them that a dump does not hold was not there (diff: added), not beyond its reach.
   */
  prefixes: string[];
  /**
   * What the etcd holds beyond the detected prefixes, when `lookOutside` asked and there is any; undefined too when the
   * user may not look (one that may read only the Kubernetes prefixes: said at debug level).
   */
  outside?: KeysOutside;
  pages(): AsyncIterable<KeyRecord[]>;
  close(): void;
}

const V2_PAGE = 500;

export interface KeyReadOptions extends PagedReadOptions {
  /**
   * Look for keys beyond the detected Kubernetes prefixes, which the read leaves out (k3s's /bootstrap data, Calico's
   * IPAM): the reader's `outside`. Not when RS_KUBE_PREFIXES names the prefixes (a choice).
   */
  lookOutside?: boolean;
  /** etcd's version as a status the caller has already got told it (the one-cluster check's): not asked again. */
  etcdVersion?: string;
}

/**
 * Opens a reader over the configured (RS_KUBE_PREFIXES) or else every known Kubernetes prefix, on the API that
 * RS_ETCD_API_VERSION names or `auto` finds. Known prefixes without keys are read too (a range read that finds
 * nothing): they are the scope of the read, so a key created under one later is one the dump did not hold, and a
 * chain of changes on the dump watches it.
 */
export async function openKeyReader(config: Config, etcd: Etcd3, log: Logger, opts: KeyReadOptions = {}): Promise<KeyReader> {
  const cfg = config.etcd;
  const v2 = new V2Client(cfg);
  try {
    const configured = normalisePrefixes(config.selection.prefixes);
    const apiVersion = await resolveApiVersion(cfg, etcd, v2, configured, (fields, msg) => log.warn(fields, msg));
    let prefixes = configured;
    let outside: KeysOutside | undefined;
    if (prefixes.length === 0) {
      prefixes = normalisePrefixes(DEFAULT_PREFIXES);
      const withKeys = apiVersion === 'v3' ? await v3PrefixesWithKeys(etcd, config) : await findV2Prefixes(v2);
      if (withKeys.length === 0) log.warn({ prefixes }, 'no Kubernetes keys found under the known prefixes (set RS_KUBE_PREFIXES?)');
      if (opts.lookOutside) outside = await keysOutside(apiVersion === 'v3' ? v3KeysOutside(etcd, prefixes) : v2KeysOutside(v2, prefixes), log);
    }
    if (apiVersion === 'v3') {
      const reader = new PagedReader(etcd, cfg, prefixRanges(prefixes), opts);
      const revision = await reader.start();
      // The one-cluster check's answer told it (pinnedEndpoints): not asked again.
      let etcdVersion = opts.etcdVersion ?? config.etcd.checkedVersion;
      try {
        etcdVersion ??= (await etcd.maintenance.status()).version;
      } catch (err) {
        throw toEtcdError(err, 'reading etcd status', cfg);
      }
      v2.close();
      return { apiVersion, etcdVersion, revision, prefixes, ...(outside && { outside }), pages: () => reader.pages(), close: () => undefined };
    }
    const etcdVersion = (await v2.version()).etcdserver;
    const first = await v2.get('/');
    return {
      apiVersion,
      etcdVersion,
      revision: first?.index ?? 0,
      prefixes,
      ...(outside && { outside }),
      pages: () => v2Pages(v2, prefixes),
      close: () => v2.close(),
    };
  } catch (err) {
    v2.close();
    throw err;
  }
}

/** What lies beyond the prefixes; undefined if nothing does, or this user may not look there (the read goes on). */
async function keysOutside(found: Promise<KeysOutside>, log: Logger): Promise<KeysOutside | undefined> {
  try {
    const outside = await found;
    return outside.under.length > 0 ? outside : undefined;
  } catch (err) {
    log.debug({ err: describeError(err) }, 'could not look for keys outside the Kubernetes prefixes');
    return undefined;
  }
}

async function v3PrefixesWithKeys(etcd: Etcd3, config: Config): Promise<string[]> {
  try {
    return (await countV3Prefixes(etcd)).filter((p) => p.keys > 0).map((p) => p.prefix);
  } catch (err) {
    throw toEtcdError(err, 'reading etcd', config.etcd);
  }
}

/** A v2 walk as pages of records. v2 has no point-in-time reads: keys are read as the walk reaches them. */
async function* v2Pages(v2: V2Client, prefixes: readonly string[]): AsyncGenerator<KeyRecord[]> {
  let page: KeyRecord[] = [];
  for (const { prefix } of prefixRanges(prefixes)) {
    for await (const { node } of v2.walk(prefix)) {
      page.push({
        key: Buffer.from(node.key),
        value: Buffer.from(node.value ?? ''),
        createRevision: node.createdIndex ?? 0,
        modRevision: node.modifiedIndex ?? 0,
        version: 0,
        ...(node.ttl !== undefined && { ttl: Math.max(0, node.ttl) }),
      });
      if (page.length >= V2_PAGE) {
        yield page;
        page = [];
      }
    }
  }
  if (page.length > 0) yield page;
}
