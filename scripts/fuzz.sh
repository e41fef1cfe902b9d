#!/usr/bin/env bash
# Build every libFuzzer target (tests/fuzz/*/, with clang) and run each for a
# bounded time.  Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
# A target is an executable named fuzz_* built when -Dfuzz=true.  Seeds live
# in tests/fuzz/<target>/corpus/ if present (copied, so the tree is not written to).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-30}
export CC=clang
"$top/scripts/build.sh" build-fuzz -Dfuzz=true -Db_lundef=false
mapfile -t targets < <(find build-fuzz -type f -name 'fuzz_*' -perm -u+x | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets yet"
  exit 0
fi
status=0
for t in "${targets[@]}"; do
  name=$(basename "$t")
  corpus=$(mktemp -d)
  seeds="tests/fuzz/${name#fuzz_}/corpus"   # fuzz_<target> keeps its seeds in tests/fuzz/<target>/corpus
  [ -d "$seeds" ] || seeds=""
  [ -n "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  echo "fuzz: $name for ${secs}s"
  if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
        "$corpus" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; log build-fuzz/$name.log:" >&2
    tail -n 40 "build-fuzz/$name.log" >&2
    status=1
  fi
  rm -rf "$corpus"
done
exit $status
