import type { CodecKeys } from '../archive/codec.js';
import { readDeltaSegment } from '../archive/delta-segment-reader.js';
import { assertDecodable, copyVerified, type VerifiedCopy } from '../archive/local-copy.js';
import type { DeltaEvent } from '../core/delta-event.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { namingBackupOf } from './content-errors.js';
import type { SegmentBackup } from './delta-chains.js';

/** The verified local copies of a restore's segments: as many passes over their changes as the restore needs. */
export interface OpenedSegments {
  /** The segments' changes in revision order with after < modRevision <= through; each call reads the copies again. */
  events(after: number, through: number): AsyncIterable<DeltaEvent>;
  remove(): Promise<void>;
}

/**
 * Downloads the segments into private temporary copies, each checked against its manifest (size, sha256), before a
 * single change is applied: a damaged segment fails the restore before it has written anything. Each pass reads a
 * segment whole, its header and end checked against its manifest (a segment cut short throws at its end, and a
 * restore into a temporary etcd or a plan then fails as a whole).
 */
export async function openSegments(repo: BackupRepository, segments: readonly SegmentBackup[], keys: CodecKeys, signal?: AbortSignal): Promise<OpenedSegments> {
  const copies: Array<{ segment: SegmentBackup; copy: VerifiedCopy }> = [];
  const remove = async () => {
    await Promise.all(copies.map((c) => c.copy.remove()));
  };
  try {
    for (const s of segments) {
      assertDecodable(s.manifest, keys);
      // In the work area (RS_TMP_DIR), as every other copy of a stored backup.
      copies.push({ segment: s, copy: await copyVerified(await repo.openArtifact(s.manifest, signal), s.manifest, signal, repo.workDir, repo.artifactAddress(s.manifest)) });
    }
  } catch (err) {
    await remove();
    throw err;
  }
  async function* events(after: number, through: number): AsyncGenerator<DeltaEvent> {
    // Segments of two recorders may overlap (validateChain): a revision the segments before held is not applied twice.
    let reached = after;
    for (const { segment: s, copy } of copies) {
      if (s.toRevision <= reached || s.fromRevision > through) continue;
      const expect = { cluster: s.manifest.cluster, base: s.base, fromRevision: s.fromRevision, toRevision: s.toRevision, events: s.events };
      const from = reached;
      for await (const item of namingBackupOf(readDeltaSegment(copy.open(keys), expect), s.manifest)) {
        if (item.type !== 'event') continue;
        const rev = item.event.modRevision;
        // Read on past `through` all the same: the segment's end is what proves it whole.
        if (rev > from && rev <= through) yield item.event;
      }
      reached = Math.max(reached, s.toRevision);
    }
  }
  return { events, remove };
}
