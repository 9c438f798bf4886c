#!/usr/bin/env bash
# Builds the exporter image without a registry: a Debian base made with mmdebstrap (cached by its inputs under
# $CACHE), imported into podman's store, and the Dockerfile built on it with buildah (chroot isolation).
# Installs mmdebstrap, buildah and podman first when missing and running as root, like scripts/bootstrap.sh.
#   scripts/build-image.sh [IMAGE]        (default localhost/mlobs-exporter:dev; prints the image name last)
# pip inside the build uses this machine's index settings (pip config and PIP_* variables), passed as build
# arguments; local index folders and files they name are mounted read-only into the build.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-localhost/mlobs-exporter:dev}
CACHE=${CACHE:-/var/cache/mlobs-image}
PIP_PYTHON=${PIP_PYTHON:-.venv/bin/python}

missing=()
for tool in mmdebstrap buildah podman; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-image: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "build-image: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# The suite this machine's apt sources provide (a base from another suite could not be fetched here).
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
packages=python3,python3-venv
key=$(printf '%s\n' "$suite" "$packages" "$(mmdebstrap --version)" "$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null)" \
  | sha256sum | cut -c1-16)
base=localhost/mlobs-base:$key
if ! podman image exists "$base"; then
  mkdir -p "$CACHE"
  tarball=$CACHE/base-$key.tar
  if [ ! -s "$tarball" ]; then
    echo "build-image: making the $suite base (mmdebstrap, a few minutes)" >&2
    # mmdebstrap picks the output format from the name: keep .tar on the temporary file.
    mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$CACHE/.partial-$key.tar"
    mv "$CACHE/.partial-$key.tar" "$tarball"
  fi
  podman import --quiet "$tarball" "$base" >/dev/null
fi

# pip's effective settings: `pip config list` prints global, user and PIP_* environment values.
build_args=()
volumes=()
declare -A seen=()
mount_local() {  # mount a local path (or file:// URL) a setting names, once; $2=up: its parent folder
  local path=${1#file://}
  path=${path%/}
  # A local index's pages link to files beside it (simple/ -> ../files/): mount the folder above it.
  [ "${2:-}" = up ] && path=$(dirname "$path")
  case $path in /*) ;; *) return ;; esac
  [ -e "$path" ] || return 0
  [ -n "${seen[$path]:-}" ] && return
  seen[$path]=1
  volumes+=(--volume "$path:$path:ro")
}
while IFS= read -r line; do
  name=${line%%=*}; name=${name##*.}
  value=${line#*=}; value=${value#\'}; value=${value%\'}
  case $name in
    index-url|extra-index-url|find-links|trusted-host|cert|constraint) ;;
    *) continue ;;
  esac
  var=PIP_$(echo "$name" | tr 'a-z-' 'A-Z_')
  build_args+=(--build-arg "$var=$value")
  up=""
  case $name in index-url|extra-index-url) up=up ;; esac
  for word in $value; do mount_local "$word" $up; done
done < <("$PIP_PYTHON" -m pip config list 2>/dev/null)

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
buildah bud --quiet --isolation chroot --layers=false \
  --build-arg "BASE_IMAGE=$base" \
  --build-arg "REVISION=$revision" \
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "${build_args[@]}" "${volumes[@]}" \
  --tag "$IMAGE" --file Dockerfile . >&2
echo "$IMAGE"
