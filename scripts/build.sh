#!/usr/bin/env bash
# Configures (CMake + Ninja, RelWithDebInfo) and builds everything: the node,
# the tools and every test suite.
#   bash scripts/build.sh [extra ninja arguments, e.g. a target name]
# Build folder: build/ in the project, or $HERALD_BUILD_DIR.
# Build type: $HERALD_BUILD_TYPE (default RelWithDebInfo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${HERALD_BUILD_DIR:-$root/build}
build_type=${HERALD_BUILD_TYPE:-RelWithDebInfo}
jobs=${HERALD_JOBS:-$(nproc)}

for tool in cmake ninja; do
  command -v "$tool" >/dev/null || { echo "build: $tool not found; run scripts/setup.sh first" >&2; exit 1; }
done

# Configure once (and again if the generator or build type changed);
# CMake re-runs itself on CMakeLists changes.
cache="$build_dir/CMakeCache.txt"
if [ ! -f "$build_dir/build.ninja" ] || [ ! -f "$cache" ] \
   || ! grep -qx "CMAKE_BUILD_TYPE:STRING=$build_type" "$cache" \
   || ! grep -qx "CMAKE_GENERATOR:INTERNAL=Ninja" "$cache"; then
  if [ -f "$cache" ] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=Ninja" "$cache"; then
    echo "build: $build_dir was configured with another generator; remove it first" >&2
    exit 1
  fi
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
fi

ninja -C "$build_dir" -j "$jobs" "$@"
