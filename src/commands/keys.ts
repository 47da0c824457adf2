import type { CodecKeys } from '../archive/codec.js';
import type { Config } from '../config/types.js';
import { OperationError } from '../core/errors.js';

/** The encryption keys of the configuration, as codec steps. */
export async function codecKeys(config: Config, _opts: { forReading?: boolean } = {}): Promise<CodecKeys> {
  if (config.encryption.recipients.length > 0 || config.encryption.passphrase !== undefined) {
    throw new OperationError('encryption is not supported yet');
  }
  return {};
}
