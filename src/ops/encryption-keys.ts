import { readFileSync } from 'node:fs';
import { parseIdentityFile } from '../archive/age-keys.js';
import type { CodecKeys } from '../archive/codec.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../log.js';

/**
 * The encryption keys of the configuration, as codec steps: recipients or a passphrase encrypt new backups;
 * identities (RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY) and the passphrase decrypt stored ones.
 * Identity files are read only when reading backups (`forReading`), so a backup job never needs the secret key.
 */
export async function encryptionKeys(config: Config, opts: { forReading?: boolean } = {}): Promise<CodecKeys> {
  const { recipients, passphrase, identity, identityFile } = config.encryption;
  const keys: CodecKeys = {};
  const fromFile = opts.forReading && identityFile !== undefined ? readIdentityFile(identityFile) : [];
  const identities = opts.forReading ? [...(identity ?? []), ...fromFile] : [];
  const decrypts = opts.forReading === true && (identities.length > 0 || passphrase !== undefined);
  if (recipients.length === 0 && passphrase === undefined && !decrypts) return keys;
  // The age library (and its crypto) loads only when a key is configured: ~0.1-0.3 s of start-up for every other run.
  const { ageDecryptor, ageEncryptor, recipientsOf } = await import('../archive/age-codec.js');
  if (recipients.length > 0) {
    keys.encrypt = ageEncryptor({ recipients });
    keys.encryptedTo = { recipients: [...recipients] };
  } else if (passphrase !== undefined) {
    keys.encrypt = ageEncryptor({ passphrase });
    keys.encryptedTo = { passphrase: true };
  }
  if (decrypts) {
    const sources = () => keySources(config, fromFile, recipientsOf);
    keys.decrypt = ageDecryptor({ identities, passphrases: passphrase !== undefined ? [passphrase] : [], sources });
  }
  return keys;
}

/**
 * Whom the configured reading keys can decrypt: the public keys of the identities (RS_ENCRYPTION_IDENTITY_FILE,
 * RS_ENCRYPTION_IDENTITY), and whether a passphrase is set. Never a secret.
 */
export async function readableBy(config: Config): Promise<{ recipients: string[]; passphrase: boolean }> {
  const { passphrase, identity, identityFile } = config.encryption;
  const identities = [...(identity ?? []), ...(identityFile !== undefined ? readIdentityFile(identityFile) : [])];
  const { recipientsOf } = await import('../archive/age-codec.js');
  return { recipients: await recipientsOf(identities).catch(() => []), passphrase: passphrase !== undefined };
}

/**
 * The keys tried, for the message when none decrypts a backup: each variable (and file) with the public keys it
 * holds, which the backup job's RS_ENCRYPTION_RECIPIENTS must have named; never a secret.
 */
async function keySources(config: Config, fromFile: string[], recipientsOf: (identities: readonly string[]) => Promise<string[]>): Promise<string> {
  const { passphrase, identity, identityFile } = config.encryption;
  const publicKeys = async (ids: string[]) => {
    const keys = await recipientsOf(ids).catch(() => []);
    return keys.length === 0 ? '' : ` (public key${keys.length > 1 ? 's' : ''} ${keys.join(', ')})`;
  };
  const tried = [
    ...(identityFile !== undefined ? [`RS_ENCRYPTION_IDENTITY_FILE=${identityFile}${await publicKeys(fromFile)}`] : []),
    ...(identity !== undefined ? [`RS_ENCRYPTION_IDENTITY${await publicKeys(identity)}`] : []),
    ...(passphrase !== undefined ? ['RS_ENCRYPTION_PASSPHRASE'] : []),
  ];
  return `tried ${tried.join('; ')}`;
}

function readIdentityFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([`RS_ENCRYPTION_IDENTITY_FILE was invalid: ${JSON.stringify(path)} cannot be read (${code ?? 'error'})`]);
  }
  try {
    return parseIdentityFile(text);
  } catch (err) {
    throw new ConfigError([`RS_ENCRYPTION_IDENTITY_FILE was invalid: ${JSON.stringify(path)} ${(err as Error).message}`]);
  }
}

/**
 * Warns when backups will be written unencrypted although a key to read encrypted ones is set: an operator who took
 * RS_ENCRYPTION_IDENTITY_FILE for "the encryption key" would otherwise store every Secret in the clear without a word.
 * Not refused: an identity kept to read older encrypted backups after encryption was turned off is a choice.
 */
export function warnIfWritingPlain(config: Config, log: Logger): void {
  const { recipients, passphrase, identity, identityFile } = config.encryption;
  if (recipients.length > 0 || passphrase !== undefined || (identity === undefined && identityFile === undefined)) return;
  const variable = identityFile !== undefined ? 'RS_ENCRYPTION_IDENTITY_FILE' : 'RS_ENCRYPTION_IDENTITY';
  log.warn(
    { variable },
    `backups are written unencrypted: ${variable} is set, but it only reads encrypted backups; set RS_ENCRYPTION_RECIPIENTS to its public key (age-keygen -y) to encrypt new ones`,
  );
}
