import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { AbortedError, EtcdError, describeError } from '../core/errors.js';
import { createEtcdClient } from './client.js';
import { EtcdCredentialsError, toEtcdError } from './errors.js';
import { currentInterrupt, currentOnWait, interruptedError, interruptibleBy } from './interrupt.js';
import { variableOf } from './tls-check.js';

/** A member that is current with its cluster: a snapshot taken of it now holds at least `revision`. */
export interface CurrentMember {
  endpoint: string;
  /** A client of this member alone (close it when done). */
  client: Etcd3;
  /** The revision a linearizable read through it answered with. */
  revision: number;
  version: string;
  dbSize: number;
}

/** Why a member was passed over: `stale` when it answered but could not show it is current (no leader, cut off). */
export interface PassedOver {
  endpoint: string;
  reason: string;
  stale: boolean;
  error: EtcdError | AbortedError;
}

/**
 * A member of `cfg.endpoints` to take a snapshot of, other than those in `skip`: one that has a leader and answers a
 * linearizable read, so its data is the cluster's as of now. etcd serves Status and the snapshot stream from a
 * member's local state without asking the leader: a member cut off from the others (its peer traffic lost, the
 * minority side of a partition) answers both with the data it had when it lost contact, as `etcdctl snapshot save`
 * stores it without a word. Every member is asked at once, each within RS_ETCD_TIMEOUT (an etcd restarting is waited
 * for, as by any call); the first found current is taken, the others' clients closed. None current: an EtcdError that
 * names each member and why (a single endpoint that does not answer fails as before, with the error of its status).
 */
export async function currentMember(cfg: EtcdConfig, skip: ReadonlySet<string>, onPassedOver: (p: PassedOver) => void): Promise<CurrentMember> {
  const checks = cfg.endpoints.filter((e) => !skip.has(e)).map((endpoint) => ({ endpoint, client: createEtcdClient({ ...cfg, endpoints: [endpoint] }), stop: new AbortController() }));
  const operation = currentInterrupt();
  const passed: PassedOver[] = [];
  const found = await new Promise<CurrentMember | undefined>((resolve) => {
    let left = checks.length;
    let winner: CurrentMember | undefined;
    if (left === 0) resolve(undefined);
    for (const check of checks) {
      // Each check ends when the operation stops, or at once when another member was found current.
      const signal = operation === undefined ? check.stop.signal : AbortSignal.any([operation, check.stop.signal]);
      void interruptibleBy(signal, () => checkMember(cfg, check.endpoint, check.client), currentOnWait()).then((r) => {
        if ('client' in r && winner === undefined) {
          resolve((winner = r));
          // The others are not needed: their calls (a member down or frozen, waited for until RS_ETCD_TIMEOUT) end now.
          for (const other of checks) if (other !== check) other.stop.abort();
        } else if (!('client' in r) && winner === undefined) {
          passed.push(r);
        }
        if (--left === 0) resolve(winner);
      });
    }
  });
  if (found !== undefined) {
    for (const p of passed) onPassedOver(p);
    return found;
  }
  // Stopped (SIGTERM) while the members were asked: the operation says so, not that none was current.
  if (operation?.aborted) throw interruptedError(operation);
  throw noCurrentMember(cfg, passed);
}

/** Whether `endpoint` is current: its status names a leader and a linearizable read through it answers. */
async function checkMember(cfg: EtcdConfig, endpoint: string, client: Etcd3): Promise<CurrentMember | PassedOver> {
  const one = { ...cfg, endpoints: [endpoint] };
  const pass = (reason: string, error: EtcdError | AbortedError, stale: boolean): PassedOver => {
    client.close();
    return { endpoint, reason, stale, error };
  };
  let status;
  try {
    status = await client.maintenance.status();
  } catch (err) {
    const error = toEtcdError(err, 'reading etcd status', one);
    if (error instanceof AbortedError) return pass('was not asked: interrupted', error, false);
    return pass(`does not answer (${describeError(error)})`, error, false);
  }
  const facts = { endpoint, client, version: status.version, dbSize: Number(status.dbSize) };
  const cluster = status.header.cluster_id;
  if (cfg.checkedCluster !== undefined && cluster !== cfg.checkedCluster) {
    // Its snapshot would be stored as the checked cluster's: refused (see with-etcd.ts's pinned), as a page is.
    const reason = `is a member of another etcd cluster (${cluster}) than the one checked (${cfg.checkedCluster})`;
    return pass(reason, new EtcdError(`${endpoint} ${reason}`), false);
  }
  if (status.leader === '0' || status.leader === '') {
    const reason = 'has no leader: it is cut off from the other members (or the cluster lost quorum), and its data may be stale';
    return pass(reason, new EtcdError(`${endpoint} ${reason}`), true);
  }
  try {
    // Linearizable (the default): the member asks the leader for the commit index and applies up to it first.
    const read = await client.kv.range({ key: Buffer.from([0]), count_only: true });
    return { ...facts, revision: Number(read.header.revision) };
  } catch (err) {
    const error = toEtcdError(err, 'a linearizable read', one);
    if (error instanceof AbortedError) return pass('was not asked: interrupted', error, false);
    // A user that may not read that key: not a sign of staleness; the snapshot itself says whether it is allowed.
    if (error instanceof EtcdCredentialsError) return { ...facts, revision: Number(status.header.revision) };
    return pass(`could not show it is current with the leader (${describeError(error)})`, error, true);
  }
}

/** The error when no member is current: a single endpoint's own error when it only did not answer. */
function noCurrentMember(cfg: EtcdConfig, passed: PassedOver[]): EtcdError | AbortedError {
  const aborted = passed.find((p) => p.error instanceof AbortedError);
  if (aborted !== undefined) return aborted.error;
  if (passed.length === 1 && !passed[0]!.stale) return passed[0]!.error;
  const each = passed.map((p) => `${p.endpoint} ${p.reason}`).join('; ');
  const stale = passed.some((p) => p.stale);
  return new EtcdError(
    `no member of ${variableOf(cfg, 'endpoints')} can give a current snapshot: ${each}` +
      (stale
        ? `; a snapshot of a member cut off from its leader holds the data it had when it lost contact and would be stored as ` +
          `the cluster's, so none was taken: restore the members' contact (or quorum) and run it again, or give the ` +
          `endpoints of members that reach the leader (to save one member's data as it stands: etcdctl --endpoints URL snapshot save FILE)`
        : ''),
  );
}
