#!/usr/bin/env bash
# Makes the exit's container image from Debian's packages and this built checkout (`npm ci` first),
# as root, with podman (default) or docker:
#   exit/image.sh [base|context|build|all]     (default: all)
#     base     debootstrap a trixie minbase with nodejs, ca-certificates, nftables, iproute2,
#              conntrack and import it as $BASE_IMAGE (skipped when that image exists)
#     context  stage what runs (package.json, dist/, production node_modules) in $CONTEXT
#     build    build exit/Dockerfile from $CONTEXT as $IMAGE
# Environment: ENGINE (the engine's command line, e.g. "podman --storage-driver vfs"; default
# podman), BUILD_FLAGS (extra build flags, e.g. "--isolation chroot"), IMAGE (tether-exit),
# BASE_IMAGE (localhost/tether-exit-base:trixie), MIRROR (http://deb.debian.org/debian),
# CONTEXT (a fresh temp dir; removed at the end unless given), WORK (temp dir for the base tree).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-podman}
BUILD_FLAGS=${BUILD_FLAGS:-}
IMAGE=${IMAGE:-tether-exit}
BASE_IMAGE=${BASE_IMAGE:-localhost/tether-exit-base:trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=nodejs,ca-certificates,nftables,iproute2,conntrack
step=${1:-all}

base() {
  if $ENGINE image exists "$BASE_IMAGE" 2>/dev/null || $ENGINE image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "base: $BASE_IMAGE exists"
    return
  fi
  local work=${WORK:-$(mktemp -d)}
  trap 'rm -rf "$work/root"' RETURN
  echo "base: debootstrap --variant=minbase --include=$BASE_PACKAGES trixie ($MIRROR)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" trixie "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; return 1; }
  echo "base: node $(chroot "$work/root" node --version); importing as $BASE_IMAGE"
  # Without apt's downloaded packages, docs, man pages and translations: nothing runs them.
  tar -C "$work/root" --exclude='./var/cache/apt/archives/*.deb' --exclude=./var/lib/apt/lists \
    --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/locale -c . |
    $ENGINE import - "$BASE_IMAGE" >/dev/null
}

context() {
  for file in dist/node/exit/cli.js dist/pwa/index.html; do
    [[ -e $file ]] || { echo "context: $file is missing: run npm ci (or npm run build) first" >&2; return 1; }
  done
  CONTEXT=${CONTEXT:-$(mktemp -d)}
  echo "context: staging what runs in $CONTEXT"
  local pack
  pack=$(npm pack --ignore-scripts --silent --pack-destination "$CONTEXT")
  tar -xzf "$CONTEXT/$pack" -C "$CONTEXT" --strip-components=1 && rm "$CONTEXT/$pack"
  cp package-lock.json "$CONTEXT/"
  # The lock file's production dependencies; no scripts (the package's own prepare would build).
  (cd "$CONTEXT" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
  rm "$CONTEXT/package-lock.json"
}

build() {
  [[ -n ${CONTEXT:-} ]] || { echo "build: no CONTEXT (run the context step first)" >&2; return 1; }
  echo "build: $IMAGE from $BASE_IMAGE"
  # shellcheck disable=SC2086 # BUILD_FLAGS and ENGINE are word lists on purpose
  $ENGINE build $BUILD_FLAGS --build-arg "BASE=$BASE_IMAGE" -f exit/Dockerfile -t "$IMAGE" "$CONTEXT"
}

case $step in
  base) base ;;
  context) context ;;
  build) build ;;
  all)
    own_context=${CONTEXT:-}
    base
    context
    build
    [[ -n $own_context ]] || rm -rf "$CONTEXT"
    ;;
  *) echo "usage: exit/image.sh [base|context|build|all]" >&2; exit 2 ;;
esac
