#!/usr/bin/env bash
# Builds the lab image FROM scratch around binaries built on this host: no base image is pulled.
# The four programs are dynamically linked against glibc, so the image gets exactly the shared
# objects `ldd` lists for them (and the dynamic loader) at the same absolute paths.
#
#   deploy/image/build.sh [release|debug]     (default: release; LAB_IMAGE names the tag,
#   LAB_SKIP_BUILD=1 packs what is already built, CARGO_TARGET_DIR is honoured)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
profile="${1:-release}"
image="${LAB_IMAGE:-kubelet-tls-lab:dev}"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
programs=(apiserver controller-manager kubelet-agent lab)

command -v docker >/dev/null || { echo "error: the docker CLI is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (docker info failed); start dockerd or use 'lab up' instead" >&2; exit 1; }

flag=(); [ "$profile" = release ] && flag=(--release)
if [ -z "${LAB_SKIP_BUILD:-}" ]; then
  echo "building ${programs[*]} ($profile)"
  (cd "$root" && cargo build "${flag[@]}" -p apiserver -p controller-manager -p kubelet-agent -p lab)
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
rootfs="$context/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/lib/kubelet" "$rootfs/var/lib/kubernetes"
chmod 1777 "$rootfs/tmp"
for program in "${programs[@]}"; do
  binary="$target/$profile/$program"
  [ -x "$binary" ] || { echo "error: $binary missing after the build" >&2; exit 1; }
  # Debug info is not needed in the image; stripping keeps it small.
  strip -o "$rootfs/usr/local/bin/$program" "$binary" 2>/dev/null || cp "$binary" "$rootfs/usr/local/bin/$program"
  # `ldd` lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)".
  ldd "$binary" | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done
# glibc resolves container host names (apiserver, node-1, ...) through /etc/hosts and DNS.
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/usr/local/bin/lab\n' > "$rootfs/etc/passwd"
cat > "$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
ENTRYPOINT []
DOCKERFILE
# The classic builder needs no buildx plugin and builds FROM scratch offline.
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$context" >/dev/null
echo "built image $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
