#!/usr/bin/env bash
# scripts/busy-neighbour.sh on a short run: one idle/busy pair prints its
# two rates, a ratio and the median; bad arguments fail with a message.
# Skips (77) on one CPU or without taskset.
# Usage: test_busy_neighbour.sh LXDS_TOOL SOURCE_ROOT
set -uo pipefail
lxds=$1 root=$2
[ "$(nproc)" -ge 2 ] || { echo "one CPU: skipped"; exit 77; }
command -v taskset >/dev/null || { echo "taskset missing: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
script=$root/scripts/busy-neighbour.sh

"$script" "$lxds" 1 20000 > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "one pair"; }
grep -Eq '^pair 1/1: idle [0-9.]+ M pkt/s, CPU 1 busy [0-9.]+ M pkt/s, ratio [0-9]+\.[0-9]{3}$' "$tmp/log" ||
  { cat "$tmp/log"; fail "no pair line"; }
grep -Eq '^median ratio \(CPU 1 busy / idle\): [0-9]+\.[0-9]{3}$' "$tmp/log" || { cat "$tmp/log"; fail "no median"; }

"$script" "$lxds" two > "$tmp/log" 2>&1
[ $? -eq 2 ] || fail "PAIRS 'two' not refused with exit 2"
grep -q "PAIRS and PACKETS are numbers" "$tmp/log" || { cat "$tmp/log"; fail "no message for a bad PAIRS"; }
"$script" "$lxds" 0 > "$tmp/log" 2>&1
[ $? -eq 2 ] || fail "PAIRS 0 not refused with exit 2"
"$script" "$tmp/no-such-lxds" 1 > "$tmp/log" 2>&1
[ $? -eq 1 ] || fail "a missing binary not refused with exit 1"
grep -q "is not an executable" "$tmp/log" || { cat "$tmp/log"; fail "no message for a missing binary"; }
printf '#!/bin/sh\nexit 3\n' > "$tmp/broken-lxds"
chmod +x "$tmp/broken-lxds"
"$script" "$tmp/broken-lxds" 1 > "$tmp/log" 2>&1
[ $? -eq 1 ] || fail "a failing bench not reported with exit 1"
grep -q "bench net failed" "$tmp/log" || { cat "$tmp/log"; fail "no message for a failing bench"; }
grep -q Traceback "$tmp/log" && fail "a traceback instead of a message"
echo "ok"
