import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/** Encrypted backups end to end: the CLI against a real etcd, read back by reshifter and by Debian's `age`. */
describe('encrypted backups', () => {
  let etcd: TestEtcd;
  let dir: string;
  let keyFile: string;
  let otherKeyFile: string;
  let recipient: string;

  const keygen = (path: string) => {
    execFileSync('age-keygen', ['-o', path], { stdio: 'pipe' });
    return /public key: (age1\w+)/.exec(execFileSync('cat', [path]).toString())![1]!;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-enc-'));
    keyFile = join(dir, 'key.txt');
    otherKeyFile = join(dir, 'other.txt');
    recipient = keygen(keyFile);
    keygen(otherKeyFile);
    etcd = await startEtcd();
    for (let i = 0; i < 20; i++) await etcd.ctl(['put', `/registry/secrets/default/s${i}`, `top-secret-${i}`]);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // gzip here (zstd under age: zstd-backups.test.ts).
  const env = (store: string, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'gzip', ...extra });

  it('encrypts to recipients; age -d | gunzip gives a snapshot etcdctl reads; verify needs the identity', async () => {
    const store = join(dir, 'recipients');
    const third = keygen(join(dir, 'third.txt'));
    const backup = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_RECIPIENTS: `${recipient}, ${third}` }));
    expect(backup.stderr).not.toMatch(/error/i);
    expect(backup.code).toBe(0);
    const m = JSON.parse(backup.stdout) as { id: string; artifact: string; encryption: string; encryptedTo?: unknown; sha256: string; sizeBytes: number; rawSizeBytes: number };
    expect(m.encryption).toBe('age');
    // Whom it was encrypted to (public keys only), so that a reader without a fitting key is told which it needs.
    expect(m.encryptedTo).toEqual({ recipients: [recipient, third] });
    expect(await readFile(join(store, 'default', `${m.id}.manifest.json`), 'utf8')).not.toMatch(/AGE-SECRET-KEY/);
    expect(m.artifact).toMatch(/\.snapshot\.db\.gz\.age$/);
    const stored = await readFile(join(store, 'default', m.artifact));
    expect(stored.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(stored.includes(Buffer.from('top-secret-1'))).toBe(false);
    // The sha256 and size are of the stored (encrypted) bytes.
    expect(createHash('sha256').update(stored).digest('hex')).toBe(m.sha256);
    expect(stored.length).toBe(m.sizeBytes);

    // Debian's age CLI decrypts it; the result is the gzip of an etcd snapshot.
    const snap = gunzipSync(execFileSync('age', ['-d', '-i', keyFile, join(store, 'default', m.artifact)]));
    expect(snap.length).toBe(m.rawSizeBytes);
    const snapFile = join(dir, 'snap.db');
    await writeFile(snapFile, snap);
    const status = JSON.parse(execFileSync('etcdctl', ['snapshot', 'status', '-w', 'json', snapFile], { env: { ...process.env, ETCDCTL_API: '3' } }).toString()) as { totalKey: number };
    expect(status.totalKey).toBeGreaterThanOrEqual(20);

    const ok = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok\s+decrypt\+decompress/);

    // A key missing is a setting missing (exit 2, nothing read), not a backup that failed a check.
    const without = await runCli(['verify', 'latest'], env(store));
    expect(without.code).toBe(2);
    expect(without.stdout).not.toMatch(/FAIL/);
    expect(without.stderr).not.toMatch(/failed verification/);
    // It names the backup (`latest` may not be the one the operator thinks) and, from its manifest, the keys it was
    // encrypted to (before: every variable that could hold a key, whichever was needed).
    expect(without.stderr).toMatch(/backup \d{8}T[\d.]+Z-[0-9a-f]+ is encrypted with age: it was encrypted to age1\w+, age1\w+: set RS_ENCRYPTION_IDENTITY_FILE \(or RS_ENCRYPTION_IDENTITY\) to the identity of one of them/);

    const wrong = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: otherKeyFile }));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/none of the configured keys can decrypt this backup/);
    // It names the file tried and the public key it holds (never the secret one), to compare with the backup job's recipients.
    const otherPublic = /public key: (age1\w+)/.exec(await readFile(otherKeyFile, 'utf8'))![1]!;
    // and the keys the backup was encrypted to (before: 'it was encrypted to someone else').
    expect(wrong.stderr).toContain(`(tried RS_ENCRYPTION_IDENTITY_FILE=${otherKeyFile} (public key ${otherPublic})): it was encrypted to ${recipient}, ${third}: set RS_ENCRYPTION_IDENTITY_FILE`);
    expect(wrong.stderr).not.toMatch(/AGE-SECRET-KEY/);

    const inline = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY: (await readFile(keyFile, 'utf8')).match(/AGE-SECRET-KEY-1\w+/)![0] }));
    expect(inline.code).toBe(0);

    // The other readers: stats, and a snapshot restore into a new data directory.
    const stats = await runCli(['stats', 'latest', '--json'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(stats.code, stats.stderr).toBe(0);
    // Every key of the decrypted snapshot was read: the 20 secrets put above, and nothing else.
    expect(JSON.parse(stats.stdout)).toMatchObject({ keys: 20, byResource: { secrets: { keys: 20 } }, byNamespace: { default: { keys: 20 } } });
    const dataDir = join(dir, 'restored');
    const restore = await runCli(['restore', 'latest', '--data-dir', dataDir], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(restore.code, restore.stderr).toBe(0);
    expect(await readdir(dataDir)).toContain('member');
    const refused = await runCli(['restore', 'latest', '--data-dir', join(dir, 'not-restored')], env(store));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/encrypted with age: it was encrypted to age1\w+, age1\w+: set RS_ENCRYPTION_IDENTITY_FILE/);
  });

  it('reads artifacts the age CLI wrote (age -r), so keys made with age-keygen work both ways', async () => {
    const store = join(dir, 'cli');
    const first = await runCli(['backup', '--json'], env(store, { RS_COMPRESSION: 'none', RS_ENCRYPTION_RECIPIENTS: recipient }));
    expect(first.code).toBe(0);
    const m = JSON.parse(first.stdout) as { id: string; artifact: string };
    // Re-encrypt the artifact with the age CLI and fix the manifest's hash: reshifter must read it the same.
    const path = join(store, 'default', m.artifact);
    const plain = execFileSync('age', ['-d', '-i', keyFile, path]);
    execFileSync('age', ['-r', recipient, '-o', `${path}.cli`], { input: plain });
    const theirs = await readFile(`${path}.cli`);
    await rm(`${path}.cli`);
    await writeFile(path, theirs);
    const manifestPath = join(store, 'default', `${m.id}.manifest.json`);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, sha256: createHash('sha256').update(theirs).digest('hex'), sizeBytes: theirs.length }));
    const verify = await runCli(['verify', m.id], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(verify.stdout).toMatch(/ok\s+content/);
    expect(verify.code).toBe(0);
  });

  it('reads a backup whose manifest predates encryptedTo, and says it does not record to whom', async () => {
    const store = join(dir, 'older-manifest');
    const backup = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_RECIPIENTS: recipient }));
    expect(backup.code, backup.stderr).toBe(0);
    const m = JSON.parse(backup.stdout) as { id: string };
    const path = join(store, 'default', `${m.id}.manifest.json`);
    const { encryptedTo, ...older } = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(encryptedTo).toEqual({ recipients: [recipient] });
    await writeFile(path, JSON.stringify(older));
    const ok = await runCli(['verify', m.id], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(ok.code, ok.stderr).toBe(0);
    const wrong = await runCli(['verify', m.id], env(store, { RS_ENCRYPTION_IDENTITY_FILE: otherKeyFile }));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('it was encrypted to someone else (its manifest does not record to whom: an older backup)');
  });

  it('encrypts with a passphrase, and reads with it', async () => {
    const store = join(dir, 'passphrase');
    const backup = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_PASSPHRASE: 'correct horse battery staple' }));
    expect(backup.code).toBe(0);
    const m = JSON.parse(backup.stdout) as { artifact: string; encryption: string; encryptedTo?: unknown };
    expect(m.encryption).toBe('age');
    expect(m.encryptedTo).toEqual({ passphrase: true });
    expect(backup.stdout).not.toContain('correct horse');
    const head = (await readFile(join(store, 'default', m.artifact))).subarray(0, 200).toString('latin1');
    expect(head).toMatch(/^age-encryption\.org\/v1\n-> scrypt /);
    expect((await runCli(['verify'], env(store, { RS_ENCRYPTION_PASSPHRASE: 'correct horse battery staple' }))).code).toBe(0);
    const none = await runCli(['verify'], env(store));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('is encrypted with age: it was encrypted with a passphrase: set RS_ENCRYPTION_PASSPHRASE to the one the backup job had');
    const wrong = await runCli(['verify'], env(store, { RS_ENCRYPTION_PASSPHRASE: 'wrong horse' }));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/reshifter: decrypt: backup \S+ failed verification: none of the configured keys can decrypt this backup \(tried RS_ENCRYPTION_PASSPHRASE\)/);
    expect(wrong.stderr).toContain('it was encrypted with another passphrase than RS_ENCRYPTION_PASSPHRASE');
    expect(wrong.stderr + wrong.stdout).not.toContain('wrong horse');
    // In a recovery the operator holds an age key and a passphrase backup (or the other way round): the message names
    // the variable the backup needs, rather than that it was encrypted to someone else.
    const byKey = await runCli(['verify'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(byKey.code).toBe(1);
    expect(byKey.stderr).toContain('it was encrypted with a passphrase, not to an age key: set RS_ENCRYPTION_PASSPHRASE');
    const keyStore = join(dir, 'passphrase-other-way');
    expect((await runCli(['backup'], env(keyStore, { RS_ENCRYPTION_RECIPIENTS: recipient }))).code).toBe(0);
    const byPassphrase = await runCli(['verify'], env(keyStore, { RS_ENCRYPTION_PASSPHRASE: 'correct horse battery staple' }));
    expect(byPassphrase.code).toBe(1);
    expect(byPassphrase.stderr).toContain(`it was encrypted to age keys (${recipient}), not with a passphrase: set RS_ENCRYPTION_IDENTITY_FILE to the identity of one of them`);
  });

  it('warns when backups are written unencrypted while an identity is set, taken for the encryption key', async () => {
    // Before: not a word; every Secret went to the store in the clear, "encryption": "none" in the manifest.
    const store = join(dir, 'identity-only');
    const plain = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(plain.code, plain.stderr).toBe(0);
    expect((JSON.parse(plain.stdout) as { encryption: string }).encryption).toBe('none');
    const line = plain.stderr.split('\n').find((l) => l.includes('backups are written unencrypted'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 'warn', variable: 'RS_ENCRYPTION_IDENTITY_FILE' });
    expect(line).toContain('set RS_ENCRYPTION_RECIPIENTS to its public key');
    const encrypted = await runCli(['backup'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: keyFile, RS_ENCRYPTION_RECIPIENTS: recipient }));
    expect(encrypted.code, encrypted.stderr).toBe(0);
    expect(encrypted.stderr).not.toContain('backups are written unencrypted');
  });

  it('refuses a bad identity file before any work (exit 2), without quoting it', async () => {
    const bad = join(dir, 'bad.txt');
    await writeFile(bad, '# my keys\nAGE-SECRET-KEY-1NOTAKEYNOTAKEY\n');
    const store = join(dir, 'bad');
    // verify reads with the identity; commands that do not (list) leave its file unchecked (README, Usage).
    const res = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY_FILE: bad }));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/RS_ENCRYPTION_IDENTITY_FILE was invalid: ".*bad.txt" line 2 is not an age secret key/);
    expect(res.stderr).not.toContain('NOTAKEY');
    await expect(readdir(store)).rejects.toThrow(/ENOENT/);
  });

  it('takes the text of age recipients and identity files as the variables (comments, a key a line), as a ConfigMap or Secret made from the file holds it', async () => {
    const store = join(dir, 'file-texts');
    const otherPublic = /public key: (age1\w+)/.exec(await readFile(otherKeyFile, 'utf8'))![1]!;
    // age -R's format: one key a line, # comments, blank lines. Before, the whole text was one "key": exit 2.
    const recipients = `# ops team\n${recipient}\n\n# disaster recovery\n${otherPublic}\n`;
    const backup = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_RECIPIENTS: recipients }));
    expect(backup.stderr).not.toMatch(/configuration error/);
    expect(backup.code).toBe(0);
    const m = JSON.parse(backup.stdout) as { artifact: string };
    // Encrypted to both: either key file opens it with the age CLI.
    for (const key of [keyFile, otherKeyFile]) expect(execFileSync('age', ['-d', '-i', key, join(store, 'default', m.artifact)]).length).toBeGreaterThan(0);

    // age-keygen's whole file (# created, # public key, the key), as `kubectl create secret --from-file` stores it.
    const verify = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY: await readFile(keyFile, 'utf8') }));
    expect(verify.stderr).not.toMatch(/configuration error/);
    expect(verify.code).toBe(0);

    // A bad line is named by its number, never quoted; a bad recipient is named (it is public).
    const badIdentity = await runCli(['verify', 'latest'], env(store, { RS_ENCRYPTION_IDENTITY: `${await readFile(keyFile, 'utf8')}AGE-SECRET-KEY-1NOTAKEY\n` }));
    expect(badIdentity.code).toBe(2);
    expect(badIdentity.stderr).toMatch(/RS_ENCRYPTION_IDENTITY was invalid: \(hidden\) line 4 is not an age secret key/);
    expect(badIdentity.stderr).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{10}/);
    const badRecipient = await runCli(['backup'], env(store, { RS_ENCRYPTION_RECIPIENTS: `${recipient}\nage1typo` }));
    expect(badRecipient.code).toBe(2);
    expect(badRecipient.stderr).toMatch(/has "age1typo", which is not an age X25519 public key/);
  });
  it('an encrypted artifact copied out alone, read with the wrong key: said to be a file that does not record to whom, not an older backup', async () => {
    const store = join(dir, 'copied-alone');
    const backup = await runCli(['backup', '--json'], env(store, { RS_ENCRYPTION_RECIPIENTS: recipient }));
    expect(backup.code, backup.stderr).toBe(0);
    const m = JSON.parse(backup.stdout) as { artifact: string };
    const file = join(dir, m.artifact);
    await writeFile(file, await readFile(join(store, 'default', m.artifact)));
    for (const args of [['verify', file], ['inspect', file]]) {
      const res = await runCli(args, env(join(dir, 'nowhere'), { RS_ENCRYPTION_IDENTITY_FILE: otherKeyFile }));
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toContain(`decrypt: ${file}: none of the configured keys can decrypt this file (tried RS_ENCRYPTION_IDENTITY_FILE=${otherKeyFile} (public key age1`);
      expect(res.stderr).toContain('it was encrypted to another age key: a file does not record to whom (the manifest of the backup it came from does, as "encryptedTo")');
      expect(res.stderr).not.toContain('an older backup');
    }
    const right = await runCli(['verify', file], env(join(dir, 'nowhere'), { RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
    expect(right.code, right.stderr).toBe(0);
  });
});
