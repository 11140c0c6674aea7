#!/usr/bin/env bash
# The browser side's dependencies, fetched the ordinary way and checked:
#   1. onnxruntime-web from the npm registry at a pinned version, verified against the
#      recorded SHA-256 of its tarball; only the three files the edge page loads are copied
#      into the package's static folder (git-ignored: ~30 MB, never committed; no CDN at run
#      time, so the page works offline once this ran);
#   2. Debian's chromium (as root with apt-get, as ensure-data.sh installs the data set),
#      which the browser tests drive through Playwright's executable_path.
# Where either cannot be had, say so and exit 0: the browser tests then skip with the reason.
set -euo pipefail
ORT_VERSION=1.31.1
ORT_SHA256=bdccdb9fbb9ab537247c0c734e9b1d2b1b338b4f2a09faa58f0dc1cfa27c312c
ORT_FILES=(ort.min.js ort-wasm-simd-threaded.jsep.mjs ort-wasm-simd-threaded.jsep.wasm)
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/src/splitinfer/ui/static/vendor"
stamp="$dest/.onnxruntime-web-$ORT_VERSION"

if [ ! -f "$stamp" ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "npm not found: installing Debian package npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null; } || true
  fi
  if command -v npm >/dev/null 2>&1; then
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    echo "fetching onnxruntime-web@$ORT_VERSION from the npm registry" >&2
    (cd "$tmp" && npm pack --silent "onnxruntime-web@$ORT_VERSION" >/dev/null)
    tarball="$tmp/onnxruntime-web-$ORT_VERSION.tgz"
    got=$(sha256sum "$tarball" | cut -d' ' -f1)
    if [ "$got" != "$ORT_SHA256" ]; then
      echo "error: onnxruntime-web-$ORT_VERSION.tgz has SHA-256 $got, expected $ORT_SHA256" >&2
      exit 1
    fi
    mkdir -p "$dest"
    for f in "${ORT_FILES[@]}"; do tar -xzf "$tarball" -C "$tmp" "package/dist/$f"; cp "$tmp/package/dist/$f" "$dest/$f"; done
    touch "$stamp"
  else
    echo "npm is missing: the edge page cannot run ONNX (install npm, then make web)" >&2
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium not found: installing Debian package chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
      || echo "could not install chromium: the browser tests will skip" >&2
  else
    echo "chromium is missing (not root or no apt-get): the browser tests will skip" >&2
  fi
fi
exit 0
