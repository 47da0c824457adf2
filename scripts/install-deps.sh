#!/usr/bin/env bash
# Installs the system tools reshifter's demo and tests use, when they are missing: Debian's etcd (server and
# etcdctl), age, openssl, Prometheus' Pushgateway (the metrics push test), Chromium with a font (the web UI's browser test),
# and GNU time (the peak RSS of a key dump of big values, and the benchmark's). Needs root (or sudo) and apt-get; does
# nothing when everything is present.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v age >/dev/null 2>&1 || need+=(age)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
[ -x /usr/bin/time ] || need+=(time)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${need[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts etcd as a service on install; the tests and the demo start their own on free ports.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now etcd prometheus-pushgateway >/dev/null 2>&1 || true; fi
