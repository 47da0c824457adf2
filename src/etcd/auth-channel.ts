import { Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { castGrpcError, type Etcd3 } from 'etcd3';
import { poolOf } from './etcd3-pool.js';

/** etcd's Auth service client as grpc-js makes it (etcd3's `etcdserverpb.Auth`). */
interface AuthClient {
  authenticate(req: { name: string; password: string }, md: Metadata, opts: object, cb: (err: Error | null, res?: { token: string }) => void): void;
  close(): void;
}
type AuthClientClass = new (address: string, credentials: ChannelCredentials, options: ChannelOptions) => AuthClient;

/** etcd3's Authenticator: it asks each endpoint in turn for a token, through getCredentialsFromHost. */
interface Authenticator {
  getCredentialsFromHost(address: string, name: string, password: string, callOptions: object | undefined, credentials: ChannelCredentials): Promise<string>;
  getMetadata(): Promise<Metadata>;
  invalidateMetadata(): void;
}

/** Stands for the token of an etcd whose authentication is disabled: its calls go without one. */
const AUTH_DISABLED = 'reshifter:auth-disabled';

/**
 * With RS_ETCD_USERNAME set, every etcd call first asks for a token, and etcd3 asks on a new gRPC channel each time,
 * never closed. grpc-js shares one connection per address among a process' channels: once it has failed (etcd down),
 * a new channel joins it in its back-off and fails saying `No connection established. Last error: null`, and the
 * operator read `etcd is unreachable or went away: null` where, without auth, `connect ECONNREFUSED 10.0.0.5:2379`.
 * Here the token is asked on a channel of its own connection (it meets and names the failure itself), closed once
 * answered. The request, credentials and errors are etcd3's own.
 */
export function authenticateOnOwnChannel(client: Etcd3, channelOptions: ChannelOptions, onAuthDisabled?: () => void): void {
  const pool = poolOf(client);
  const host = pool.hosts[0];
  if (host === undefined) return;
  const Auth = (host.getServiceClient('Auth') as object).constructor as AuthClientClass;
  const auth = pool.authenticator as unknown as Authenticator;
  auth.getCredentialsFromHost = (address, name, password, callOptions, credentials) =>
    new Promise((resolve, reject) => {
      const channel = new Auth(address, credentials, { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 });
      channel.authenticate({ name, password }, new Metadata(), callOptions ?? {}, (err, res) => {
        channel.close();
        if (err && /authentication is not enabled/i.test(err.message)) resolve(AUTH_DISABLED);
        else if (err) reject(castGrpcError(err));
        else resolve(res!.token);
      });
    });
  goOnWithoutAuth(client, auth, onAuthDisabled);
}

const withoutTokenOf = new WeakMap<Etcd3, () => boolean>();

/** True when the client's last token request found etcd's authentication disabled: its calls go without one. */
export function goesWithoutToken(client: Etcd3): boolean {
  return withoutTokenOf.get(client)?.() ?? false;
}

/**
 * Credentials set for an etcd whose authentication is disabled (`etcdctl auth disable` during maintenance, an etcd
 * that never had it): etcd refuses to authenticate ("authentication is not enabled"), and etcd3 would fail every
 * call with it, stopping every backup. As etcdctl and etcd's own client do, the calls go on without a token (said
 * once, through `onAuthDisabled`), and should etcd enable authentication again ("user name is empty"), the token is
 * asked for again and the call made again with it.
 */
function goOnWithoutAuth(client: Etcd3, auth: Authenticator, onAuthDisabled: (() => void) | undefined): void {
  const getMetadata = auth.getMetadata.bind(auth);
  let withoutToken = false;
  // Calls made at once without a token all fail when auth comes back: the first asks for the token again, and each
  // of them (begun before the token was asked for: `asked` counts the times) is made again once.
  let asked = 0;
  withoutTokenOf.set(client, () => withoutToken);
  auth.getMetadata = async () => {
    const metadata = await getMetadata();
    if (metadata.get('token')[0] !== AUTH_DISABLED) {
      // A token again (the watch asked anew after "user name is empty"): the calls carry it.
      if (withoutToken) asked++;
      withoutToken = false;
      return metadata;
    }
    if (!withoutToken) onAuthDisabled?.();
    withoutToken = true;
    return new Metadata();
  };
  const pool = poolOf(client);
  const exec = pool.exec.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { exec: typeof exec }).exec = async (...args) => {
    const before = asked;
    try {
      return await exec(...args);
    } catch (err) {
      if (!/user name is empty/i.test(String((err as Error)?.message))) throw err;
      if (withoutToken) {
        withoutToken = false;
        asked++;
        auth.invalidateMetadata();
      } else if (before === asked) throw err;
      return exec(...args);
    }
  };
}
