#!/usr/bin/env bash
# Configure (once) and build lxds into a build folder.
# Usage: scripts/build.sh [BUILD_DIR] [meson options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$top"
"$top/scripts/deps.sh"
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" "$@" >/dev/null
else
  meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"   # quiet on success, full errors on failure
