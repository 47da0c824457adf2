/**
 * The oldest Node.js major reshifter runs on: the one the image ships (.nvmrc, package.json `engines`; the Dockerfile
 * test keeps them in step), the only one the tests run on. zstd, the default compression, is decoded by Node's own
 * libzstd (`zlib.zstdDecompress`, from 22.15): on Node 20 a backup was written and then failed its own verification
 * with a message about a missing function.
 */
export const MIN_NODE_MAJOR = 24;

/** Why this Node.js cannot run reshifter, or undefined when it can. `version` as process.version gives it (`v24.1.0`). */
export function unsupportedNode(version: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= MIN_NODE_MAJOR) return undefined;
  return (
    `needs Node.js ${MIN_NODE_MAJOR} or later, and this is Node.js ${version}: run it with Node.js ${MIN_NODE_MAJOR} ` +
    `(in a clone, \`export PATH="$(scripts/install-node.sh):$PATH"\` puts one first in PATH), or use the container image`
  );
}
