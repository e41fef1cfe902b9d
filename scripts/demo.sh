#!/usr/bin/env bash
# Build lxds and run its demo.  The README's first command.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" build
exec "$top/build/tools/lxds/lxds" demo "$@"
