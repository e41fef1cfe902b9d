#!/usr/bin/env bash
# Build lxds and run every test suite.  The README's test command.
# Usage: scripts/test.sh [--sanitize=address,undefined | --sanitize=thread] [meson test args...]
# Ends with one line 'tests: N passed, N failed'; exits non-zero if any failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=build
opts=()
case "${1:-}" in
  --sanitize=address,undefined)
    dir=build-asan; shift
    # Sanitizers slow the spinning stress tests ~10x: fewer messages.
    opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dstress_messages=2000000) ;;
  --sanitize=thread)
    dir=build-tsan; shift
    export CC=clang   # gcc rejects atomic_thread_fence under TSan
    opts=(-Db_sanitize=thread -Db_lundef=false -Dstress_messages=200000) ;;
  --sanitize=*)
    echo "scripts/test.sh: unknown sanitizer set '${1#--sanitize=}'" >&2; exit 2 ;;
esac
"$top/scripts/build.sh" "$dir" "${opts[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
meson test -C "$dir" --print-errorlogs "$@" || status=$?
python3 "$top/scripts/test-summary.py" "$dir/meson-logs/testlog.json" "$dir" || status=1
exit $status
