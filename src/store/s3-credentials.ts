import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultProvider, type DefaultProviderInit } from '@aws-sdk/credential-provider-node';

type Chain = ReturnType<typeof defaultProvider>;
type Credentials = Awaited<ReturnType<Chain>>;
type Provider = (options?: Parameters<Chain>[0]) => Promise<Credentials>;

/** How long credentials without an expiry (a shared credentials file, AWS_ACCESS_KEY_ID) are used before read again. */
export const REREAD_MS = 60_000;

/** The AWS SDK's default credentials chain, as `run` uses it for months; `reread()` takes the files again at once. */
export interface RereadingCredentials {
  provider: Provider;
  /** S3 refused the credentials: the next request reads them again (a key rotated in the file meanwhile). */
  reread(): void;
}

/**
 * The AWS SDK's default chain (used when ACCESS_KEY_ID is unset), for a process that outlives its credentials. The
 * SDK keeps credentials that carry no expiry (AWS_SHARED_CREDENTIALS_FILE's keys, a profile's, the environment's)
 * for the life of the process, and its file reader caches the file: a key rotated by rewriting the file (a mounted
 * Secret, a Vault agent) would be refused once the old one is revoked until a restart. Here such credentials are
 * read again, file included, when REREAD_MS old and after S3 refused them. Credentials with an expiry (web identity,
 * IRSA, Pod Identity, instance roles) are refreshed by the SDK as before; AWS_WEB_IDENTITY_TOKEN_FILE is read at
 * each of their refreshes.
 */
export function rereadingCredentials(init: DefaultProviderInit, now: () => number = Date.now): RereadingCredentials {
  const chain = defaultProvider({ ...init, ignoreCache: true });
  let got: { creds: Credentials; at: number } | undefined;
  let stale = false;
  const provider: Provider = async (options) => {
    const old = got !== undefined && got.creds.expiration === undefined && now() - got.at >= REREAD_MS;
    if (got === undefined || !(stale || old)) {
      const creds = await chain(options);
      if (got?.creds !== creds) got = { creds, at: now() };
      return creds;
    }
    stale = false;
    const before = got;
    try {
      got = { creds: await chain({ ...options, forceRefresh: true }), at: now() };
    } catch {
      // A file caught half-rewritten: the credentials read before, until the next read.
      got = { creds: before.creds, at: now() };
    }
    return got.creds;
  };
  return {
    provider,
    reread: () => {
      stale = true;
    },
  };
}

/**
 * Why the SDK's chain found no credentials, and what to do: with AWS_PROFILE set (an aws CLI habit), the files it
 * looked in for that profile, as the SDK finds them (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, else ~/.aws/ of
 * HOME, else of this user's home from the password file: /nonexistent for nobody in a pod with HOME unset).
 * Before, only "set ACCESS_KEY_ID and SECRET_ACCESS_KEY", as if the profile had not been asked for.
 */
export function noCredentialsText(env: NodeJS.ProcessEnv = process.env): string {
  const profile = env.AWS_PROFILE?.trim();
  if (!profile) return 'no S3 credentials: set ACCESS_KEY_ID and SECRET_ACCESS_KEY';
  const home = env.HOME || homedir();
  const files = [env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE || join(home, '.aws', 'config')];
  const unsetHome = env.HOME ? '' : ` (HOME is not set: the home of uid ${process.getuid?.() ?? '?'} is ${home})`;
  return (
    `no S3 credentials: AWS_PROFILE=${profile} names a profile that neither ${files[0]} nor ${files[1]} gives credentials for${unsetHome}: ` +
    'set AWS_SHARED_CREDENTIALS_FILE (or AWS_CONFIG_FILE) to the file that holds it, or set ACCESS_KEY_ID and SECRET_ACCESS_KEY'
  );
}
