#!/usr/bin/env bash
# How much a busy second CPU slows native pktgen on the first, on this host.
#
# Native lxds runs on one CPU and leaves the other idle; an isolated driver
# keeps its domain polling on the other CPU.  On a VM whose vCPUs share a
# physical core or a power budget, the busy neighbour alone costs the
# kernel's CPU speed, which native never pays.  This measures that cost:
# `lxds bench net --cases native` with the other CPU idle, then with a busy
# loop pinned to it, alternating, PAIRS times; it prints each pair's ratio
# (busy / idle) and their median.  It changes nothing in lxds' figures: it
# is the environment's share of the net ratio (docs/evaluation.md).
#
# Usage: scripts/busy-neighbour.sh [LXDS [PAIRS [PACKETS]]]
#   LXDS     the lxds binary (default build/tools/lxds/lxds)
#   PAIRS    idle/busy pairs (default 8)
#   PACKETS  packets per run (default 3000000)
set -euo pipefail
lxds=${1:-build/tools/lxds/lxds}
pairs=${2:-8}
packets=${3:-3000000}
[ -x "$lxds" ] || { echo "busy-neighbour.sh: $lxds is not an executable (build first: meson setup build && ninja -C build)" >&2; exit 1; }
case "$pairs,$packets" in
  *[!0-9,]* | ,* | *, | 0,* | *,0) echo "busy-neighbour.sh: PAIRS and PACKETS are numbers of at least 1" >&2; exit 2;;
esac
[ "$(nproc)" -ge 2 ] || { echo "busy-neighbour.sh: needs two CPUs" >&2; exit 1; }
command -v taskset >/dev/null || { echo "busy-neighbour.sh: taskset is missing (apt-get install util-linux)" >&2; exit 1; }

busy=
trap '[ -n "$busy" ] && kill "$busy" 2>/dev/null; true' EXIT

native_pps() {
  local out
  out=$("$lxds" bench net --cases native --rounds 1 --packets "$packets" --json --quiet) ||
    { echo "busy-neighbour.sh: $lxds bench net failed" >&2; exit 1; }
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])["native_pps"])' "$out" 2>/dev/null ||
    { echo "busy-neighbour.sh: $lxds bench net printed no native_pps" >&2; exit 1; }
}

ratios=()
for i in $(seq 1 "$pairs"); do
  idle=$(native_pps)
  taskset -c 1 sh -c 'while :; do :; done' &
  busy=$!
  sleep 0.2
  loaded=$(native_pps)
  kill "$busy"; wait "$busy" 2>/dev/null || true; busy=
  r=$(python3 -c "print('%.3f' % ($loaded / $idle))")
  ratios+=("$r")
  printf 'pair %d/%d: idle %.2f M pkt/s, CPU 1 busy %.2f M pkt/s, ratio %s\n' "$i" "$pairs" \
    "$(python3 -c "print($idle / 1e6)")" "$(python3 -c "print($loaded / 1e6)")" "$r"
done
python3 -c 'import statistics, sys; print("median ratio (CPU 1 busy / idle): %.3f" % statistics.median(map(float, sys.argv[1:])))' "${ratios[@]}"
