#!/usr/bin/env bash
# scripts/plot.sh on what the benches print today: a fresh `bench net --json`
# and the committed `docs/eval/blk.json` make an SVG with a bar per case (the
# per-round "_rounds" arrays are no cases); swapped or broken inputs fail
# with a message, not a traceback.  Skips (77) without gnuplot.
# Usage: test_plot.sh LXDS_TOOL SOURCE_ROOT
set -uo pipefail
lxds=$1 root=$2
command -v gnuplot >/dev/null || { echo "gnuplot missing: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$lxds" bench net --json --quiet --rounds 2 --packets 20000 --cases native,batch,busy > "$tmp/net.json" ||
  fail "bench net --json"
grep -q '"ratio_best_rounds": \[' "$tmp/net.json" || fail "no ratio_best_rounds in bench net --json"
blk=$root/docs/eval/blk.json
grep -q '"ratio_qd32_rounds": \[' "$blk" || fail "$blk has no per-round ratios: not current bench output"

"$root/scripts/plot.sh" "$tmp/net.json" "$blk" "$tmp/out.svg" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "plot.sh"; }
[ -s "$tmp/out.svg" ] || fail "no SVG written"
for label in "dummy 64B" "qd 1" "qd 32" "qd 128" "qd 32 batch 16"; do
  grep -q "$label" "$tmp/out.svg" || fail "no bar labelled '$label'"
done
grep -q "_rounds" "$tmp/out.svg" && fail "a _rounds array was drawn as a case"
# lxds against native busy: its legend, and dummy's bar labelled with the JSON's ratio.
grep -q "kept busy" "$tmp/out.svg" || fail "no bar series for lxds against native busy"
vs=$(python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["ratio_best_vs_busy"]; print("%.2f" % v if v else "")' "$tmp/net.json")
[ -n "$vs" ] || fail "bench net --json gave no ratio_best_vs_busy"
grep -q ">$vs<" "$tmp/out.svg" || fail "no label $vs (ratio_best_vs_busy) in the plot"

# Swapped inputs and a file that is no JSON: a clear message, exit 1.
"$root/scripts/plot.sh" "$blk" "$tmp/net.json" "$tmp/bad.svg" > "$tmp/log" 2>&1 && fail "swapped inputs accepted"
grep -q "expected the output of lxds bench net" "$tmp/log" || { cat "$tmp/log"; fail "no message for swapped inputs"; }
echo "not json" > "$tmp/junk.json"
"$root/scripts/plot.sh" "$tmp/junk.json" "$blk" "$tmp/bad.svg" > "$tmp/log" 2>&1 && fail "junk input accepted"
grep -q "not bench JSON" "$tmp/log" || { cat "$tmp/log"; fail "no message for junk input"; }
grep -q Traceback "$tmp/log" && fail "a traceback instead of a message"
echo "ok"
