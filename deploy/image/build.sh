#!/usr/bin/env bash
# Builds the single-user image (deploy/image/Containerfile) from this checkout
# with buildah, as root, with the vfs storage driver and chroot isolation: no
# daemon, no overlay filesystem and no user namespaces needed, so it also runs
# inside a container or on a CI runner.
#
#   deploy/image/build.sh [--base IMAGE] [--tag NAME]
#   deploy/image/build.sh --debootstrap [--tag NAME]
#
#   --base IMAGE    the Debian image to start from (default docker.io/library/debian:trixie-slim)
#   --debootstrap   make the base here instead, from Debian's apt mirror (DEBIAN_MIRROR,
#                   default http://deb.debian.org/debian), for machines that reach no image
#                   registry; it is kept as localhost/fashion-mnist-base:trixie and reused
#   --tag NAME      the image's name (default localhost/fashion-mnist-singleuser:latest)
#   --ca-file FILE  extra CA certificates (PEM) trusted while the image installs packages, for
#                   networks that intercept TLS; passed as a build secret, not kept in the image
#
# Environment: STORAGE_DRIVER (default vfs; overlay is faster where the kernel allows it).
# The build context is the checkout minus what deploy/image/containerignore lists
# (caches, node_modules, virtual environments, the dataset): uncommitted edits are included.
set -euo pipefail
cd "$(dirname "$0")/../.."

BASE=docker.io/library/debian:trixie-slim
TAG=localhost/fashion-mnist-singleuser:latest
LOCAL_BASE=localhost/fashion-mnist-base:trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debootstrap=
secret=()

die() { echo "build.sh: $*" >&2; exit 1; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    --base) [ $# -ge 2 ] || { echo "build.sh: --base needs an image name" >&2; exit 2; }; BASE=$2; shift 2 ;;
    --tag) [ $# -ge 2 ] || { echo "build.sh: --tag needs a name" >&2; exit 2; }; TAG=$2; shift 2 ;;
    --debootstrap) debootstrap=1; shift ;;
    --ca-file)
      [ $# -ge 2 ] || { echo "build.sh: --ca-file needs a file" >&2; exit 2; }
      [ -r "$2" ] || { echo "build.sh: --ca-file $2: no such readable file" >&2; exit 2; }
      secret=(--secret "id=extra_ca,src=$(readlink -f "$2")"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

command -v buildah >/dev/null || die "buildah is not installed (Debian: apt-get install buildah)"
[ "$(id -u)" = 0 ] || die "run as root: rootless buildah needs user namespaces and subordinate ids (see deploy/README.md)"
bh() { buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"; }

if [ -n "$debootstrap" ]; then
  if bh inspect --type image "$LOCAL_BASE" >/dev/null 2>&1; then
    echo "[build] reusing $LOCAL_BASE (buildah rmi $LOCAL_BASE to make it again)" >&2
  else
    command -v debootstrap >/dev/null || die "debootstrap is not installed (Debian: apt-get install debootstrap)"
    echo "[build] making $LOCAL_BASE with debootstrap from $MIRROR" >&2
    ctr=$(bh from --name fashion-mnist-base-work scratch)
    trap 'bh rm "$ctr" >/dev/null 2>&1 || true' EXIT
    mnt=$(bh mount "$ctr")
    debootstrap --variant=minbase --include=ca-certificates trixie "$mnt" "$MIRROR" >&2
    # Package lists and downloaded .debs come back with the next apt-get update.
    rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/archives/*.deb
    bh umount "$ctr" >/dev/null
    bh config --cmd /bin/bash "$ctr"
    bh commit --rm "$ctr" "$LOCAL_BASE" >&2
    trap - EXIT
  fi
  BASE=$LOCAL_BASE
fi

echo "[build] building $TAG from $BASE" >&2
bh build --isolation chroot --ignorefile deploy/image/containerignore \
  "${secret[@]}" --build-arg BASE="$BASE" -f deploy/image/Containerfile -t "$TAG" .
bh images "$TAG"
