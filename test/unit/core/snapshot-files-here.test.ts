import { describe, expect, it } from 'vitest';
import { snapshotFilesHere } from '../../../src/core/snapshot-files-here.js';

describe('snapshotFilesHere', () => {
  it("names k3s's snapshot files (plain and .zip) and *.db files, in reverse name order, with a command for a local folder", () => {
    const said = snapshotFilesHere('/snaps', ['on-demand-node1-1733550000', 'etcd-snapshot-node1-1733560000.zip', 'backup.db.gz', 'notes.txt'], '/snaps');
    expect(said).toBe(
      '/snaps holds etcd snapshot files (on-demand-node1-1733550000, etcd-snapshot-node1-1733560000.zip, backup.db.gz), not reshifter backups: ' +
        'inspect, verify, stats, diff, restore --keys and restore --snapshot-file OUT take such a file by its path ("reshifter verify /snaps/on-demand-node1-1733550000"); ' +
        "RS_BACKUP_DIR (or --backup-dir) and RS_S3_BUCKET name where reshifter's own backups are",
    );
  });

  it('says nothing of other files, and no local command for S3', () => {
    expect(snapshotFilesHere('/x', ['notes.txt', 'a/on-demand-node1-1733550000'], '/x')).toBeUndefined();
    expect(snapshotFilesHere('s3://b/', ['on-demand-node1-1733550000'], undefined)).toContain('(after copying one to this machine)');
  });
});
