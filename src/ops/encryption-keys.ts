import { readFileSync } from 'node:fs';
import { ageDecryptor, ageEncryptor } from '../archive/age-codec.js';
import { parseIdentityFile } from '../archive/age-keys.js';
import type { CodecKeys } from '../archive/codec.js';
import type { Config } from '../config/types.js';
import { ConfigError } from '../core/errors.js';

/**
 * The encryption keys of the configuration, as codec steps: recipients or a passphrase encrypt new backups;
 * identities (RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY) and the passphrase decrypt stored ones.
 * Identity files are read only when reading backups (`forReading`), so a backup job never needs the secret key.
 */
export async function encryptionKeys(config: Config, opts: { forReading?: boolean } = {}): Promise<CodecKeys> {
  const { recipients, passphrase, identity, identityFile } = config.encryption;
  const keys: CodecKeys = {};
  if (recipients.length > 0) keys.encrypt = ageEncryptor({ recipients });
  else if (passphrase !== undefined) keys.encrypt = ageEncryptor({ passphrase });
  if (opts.forReading) {
    const identities = [...(identity !== undefined ? [identity] : []), ...(identityFile !== undefined ? readIdentityFile(identityFile) : [])];
    if (identities.length > 0 || passphrase !== undefined) {
      keys.decrypt = ageDecryptor({ identities, passphrases: passphrase !== undefined ? [passphrase] : [] });
    }
  }
  return keys;
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
