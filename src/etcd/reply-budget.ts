import { describeError } from '../core/errors.js';
import { MAX_REPLY_BYTES } from './client.js';

/**
 * The most one key and its value can weigh in a reply: etcd refuses requests over `--max-request-bytes` (1.5 MiB by
 * default), so no put could have stored more, plus the reply's fields around it (revisions, version, lease).
 */
export const LARGEST_KEY_VALUE_BYTES = 1.5 * 1024 * 1024 + 64;

/**
 * Keys a read may ask for in one reply, so that the reply stays under gRPC's receive limit whatever the values hold
 * (42): a run of Helm release Secrets of ~1 MB each, after thousands of small keys, must not be asked for 500 at a
 * time. Reads that are sized by the bytes they see never ask for more than this.
 */
export const SAFE_KEYS_PER_REPLY = Math.floor(MAX_REPLY_BYTES / LARGEST_KEY_VALUE_BYTES);

/**
 * A reply over the receive limit (grpc-js: "Received message larger than max"), etcd's "message larger than max" on
 * its side, or any other RESOURCE_EXHAUSTED but etcd's throttle (retried as transient) and its full database.
 */
export function isReplyTooLarge(err: unknown): boolean {
  const text = describeError(err);
  return /larger than max|resource.?exhausted/i.test(text) && !/too many requests|database space exceeded/i.test(text);
}

/** The receive limit in an operator's words. */
export const REPLY_LIMIT_TEXT = `${MAX_REPLY_BYTES / 1024 / 1024} MiB`;
