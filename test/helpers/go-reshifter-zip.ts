import { createWriteStream } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

/**
 * Writes `<id>.zip` as the Go Reshifter (github.com/mhausenblas/reshifter) wrote its backups, for tests of reading
 * them. Its backup.store() put each key's value in the file `<id>/<key>/content` (filepath.Join, which cleans the path;
 * every `:` of the key written as `ESC_COLON`; an empty value an empty file), and archivefile's zip.Archive zipped the
 * folder: files only (no folder entries), in the order of filepath.Walk (each folder's names in byte order), each
 * deflated by Go's zip.Writer.Create with its sizes and CRC-32 in a data descriptor after the data, which yazl writes
 * for a stream too. `entries` may add raw entries as they are (name -> bytes, and a Unix mode), in the order given, after
 * the keys.
 */
export async function writeGoReshifterZip(
  path: string,
  id: string,
  keys: Array<[string, string | Buffer]>,
  entries: Array<[string, Buffer, number?]> = [],
): Promise<string> {
  const files = keys.map(([key, value]) => {
    const rel = posix.join(id, key.replaceAll(':', 'ESC_COLON'));
    return { name: `${rel}/content`, value: Buffer.from(value), segments: rel.split('/') };
  });
  files.sort((a, b) => walkOrder(a.segments, b.segments));
  const zip = new yazl.ZipFile();
  for (const f of [...files, ...entries.map(([name, value, mode]) => ({ name, value, mode }))]) {
    const mode = 'mode' in f && f.mode !== undefined ? { mode: f.mode } : {};
    zip.addReadStream(Readable.from([f.value]), f.name, { compress: true, mtime: new Date(1498050161000), ...mode });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
  return path;
}

/** filepath.Walk's order of two files' folders: segment by segment, bytes compared. */
function walkOrder(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = Buffer.compare(Buffer.from(a[i]!), Buffer.from(b[i]!));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
