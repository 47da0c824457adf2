import { readFileSync } from 'node:fs';
import { augerPath } from '../../fixtures/auger/paths.js';

/** Reads one of the real Kubernetes storage vectors (test/fixtures/auger). */
export function augerFile(name: string): Uint8Array {
  return new Uint8Array(readFileSync(augerPath(name)));
}

/** Reads and parses one of the JSON vectors. */
export function augerJson(name: string): { apiVersion: string; kind: string; metadata: Record<string, unknown> } {
  return JSON.parse(readFileSync(augerPath(name), 'utf8'));
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
