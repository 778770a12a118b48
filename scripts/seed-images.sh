#!/usr/bin/env bash
# Builds the image muster's real-engine tests run on, for people and CI
# scripts that want it ready before the tests start (the tests build the same
# image themselves through the Engine API when it is missing).
#
# There is no registry: the image is `FROM scratch` plus Debian's static
# busybox (package busybox-static: sh, httpd, nc, ... for servers and
# healthchecks), installed with apt-get when /bin/busybox is missing or not
# static. The Dockerfile and the label must stay the same as in
# tests/support/engine.rs.
#
# Usage: scripts/seed-images.sh [IMAGE]      (default muster-test/busybox:1)
#        FORCE=1 scripts/seed-images.sh      rebuild even if present
set -euo pipefail

IMAGE=${1:-muster-test/busybox:1}
BB=/bin/busybox

is_static() {
  # ldd fails on a static executable ("not a dynamic executable").
  [ -x "$BB" ] && ! ldd "$BB" >/dev/null 2>&1
}

if [ "${FORCE:-}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE is present"
  exit 0
fi

if ! is_static; then
  if [ "$(id -u)" != 0 ]; then
    echo "$BB is missing or not static: run 'sudo apt-get install busybox-static' first" >&2
    exit 1
  fi
  echo "installing busybox-static" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y busybox-static >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y busybox-static >/dev/null; }
  if ! is_static; then
    echo "$BB is still not a static binary after installing busybox-static" >&2
    exit 1
  fi
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BB" "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /var/www /root && chmod 1777 /tmp
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
DOCKERFILE
docker build -q --label dev.muster.test-image=1 -t "$IMAGE" "$ctx" >/dev/null
echo "built $IMAGE"
