#!/usr/bin/env bash
# Make sure the Fashion-MNIST IDX files are on disk.
# On Debian as root we install the package `dataset-fashion-mnist`; anywhere else we say
# what to do instead (splitinfer can also read the files from any path, or download them
# with torchvision where the internet is reachable).
set -euo pipefail
dir=${1:-/usr/share/datasets/fashion-mnist}
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

have_all() { for f in "${files[@]}"; do [ -s "$dir/$f" ] || return 1; done; }

if have_all; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$dir" = /usr/share/datasets/fashion-mnist ]; then
  echo "Fashion-MNIST not found in $dir: installing Debian package dataset-fashion-mnist" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
  have_all && exit 0
fi
cat >&2 <<MSG
Fashion-MNIST IDX files are missing from $dir.
  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist
  - elsewhere: put the four *-ubyte.gz files in a folder and set FMNIST_DIR=/that/folder
    (or SPLITINFER_FMNIST_DIR for the library), or let torchvision download them.
Tests that need the real data are skipped without it.
MSG
exit 0
