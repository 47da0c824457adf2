import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The repository is always cloned with `shared/` as a sibling, and vitest runs from the repository root.
const AUGER = join(process.cwd(), '..', 'shared', 'testdata', 'auger');

/** Reads one of the real Kubernetes storage vectors from shared/testdata/auger. */
export function augerFile(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(AUGER, name)));
}

/** Reads and parses one of the JSON vectors. */
export function augerJson(name: string): { apiVersion: string; kind: string; metadata: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(AUGER, name), 'utf8'));
}

/** Encodes text as UTF-8 bytes. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Concatenates byte arrays and plain byte values. */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
