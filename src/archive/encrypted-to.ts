import type { EncryptedTo } from './manifest.js';

/** Recipients for a message: every one up to a few, then how many more. */
export function recipientsText(recipients: readonly string[]): string {
  const shown = recipients.slice(0, 5).join(', ');
  return recipients.length > 5 ? `${shown} and ${recipients.length - 5} more` : shown;
}

/**
 * What to set to read a backup encrypted as its manifest records (`encryptedTo`): the passphrase variable, or an
 * identity of the recipients it names; undefined when the manifest does not record it (an older backup).
 */
export function keyNeededText(to: EncryptedTo | undefined): string | undefined {
  if (to === undefined) return undefined;
  if ('passphrase' in to) return 'it was encrypted with a passphrase: set RS_ENCRYPTION_PASSPHRASE to the one the backup job had';
  return `it was encrypted to ${recipientsText(to.recipients)}: set RS_ENCRYPTION_IDENTITY_FILE (or RS_ENCRYPTION_IDENTITY) to the identity of one of them`;
}
