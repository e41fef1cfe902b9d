#!/usr/bin/env bash
# Turn `lxds bench net --json` and `lxds bench blk --json` output into an SVG
# bar chart: isolated throughput as a fraction of native, lxds beside the
# figures LXDs (ATC'19) published, with the 0.95 target drawn across.
#
# Usage: scripts/plot.sh NET_JSON BLK_JSON OUT_SVG
# A case lxds could not measure (null in the JSON) is drawn as "n/a".
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: scripts/plot.sh NET_JSON BLK_JSON OUT_SVG" >&2
  exit 2
fi
net=$1 blk=$2 out=$3
for f in "$net" "$blk"; do
  [ -r "$f" ] || { echo "plot.sh: cannot read $f" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One row per group: label (with the native figure), lxds ratio, LXDs ratio,
# the lxds ratio as text ("n/a" where it is missing), and lxds against
# native with the domain's CPU kept busy ("native busy", since session 13;
# "?" where the JSON has none: batched cases, older files).
python3 - "$net" "$blk" > "$tmp/data" <<'PY'
import json, sys
def load(path, bench):
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"plot.sh: {path}: not bench JSON ({e})")
    if j.get("bench") != bench:
        sys.exit(f"plot.sh: {path}: expected the output of lxds bench {bench} --json")
    return j
net, blk = load(sys.argv[1], "net"), load(sys.argv[2], "blk")
def num(v): return "?" if v is None else f"{v:.4g}"
def txt(v): return '"n/a"' if v is None else f'"{v:.2f}"'
def si(v, unit):
    if v is None: return "n/a"
    return f"{v/1e6:.2f}M {unit}" if v >= 1e6 else f"{v/1e3:.0f}K {unit}"
print(f'"dummy {net["size"]:.0f}B\\nnative {si(net.get("native_pps"), "pps")}" '
      f'{num(net.get("ratio_best"))} {num(net.get("atc19_ratio"))} {txt(net.get("ratio_best"))} '
      f'{num(net.get("ratio_best_vs_busy"))}')
# Cases "qd32" and batched ones "qd32_batch16" (fio's iodepth_batch_*), plain first.
def case_key(c):
    q, _, b = c.partition("_batch")
    return (1 if b else 0, int(q), int(b or 1))
# (Not the "_rounds" arrays: the per-round ratios behind each median.)
cases = sorted((k[len("ratio_qd"):] for k in blk if k.startswith("ratio_qd") and not k.endswith("_rounds")),
               key=case_key)
for c in cases:
    q, _, b = c.partition("_batch")
    label = f"qd {q}" + (f" batch {b}" if b else "")
    print(f'"null\\\\_blk {label}\\nnative {si(blk.get(f"native_iops_qd{c}"), "IOPS")}" '
          f'{num(blk.get(f"ratio_qd{c}"))} {num(blk.get("atc19_ratio"))} {txt(blk.get(f"ratio_qd{c}"))} '
          f'{num(blk.get(f"ratio_vs_busy_qd{c}"))}')
PY

# gnuplot warns about a column with no number at all (lxds cases all n/a): expected.
gnuplot 2> >(grep -v 'no valid points' >&2) <<GP
set terminal svg size 1100,480 dynamic enhanced font "sans,12" background rgb "white"
set output "$out"
set title "Isolated throughput as a fraction of native (lxds, one run, medians of per-round ratios)"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.2]
set ytics 0.2
set grid ytics
set ylabel "isolated / native"
set key top right
set bmargin 4
set arrow from graph 0, first 0.95 to graph 1, first 0.95 nohead dashtype 2 lc rgb "#444444"
set label "target 0.95" at graph 0.01, first 0.985 tc rgb "#444444"
plot "$tmp/data" using 2:xtic(1) title "lxds / native (this machine)" lc rgb "#2e7d32", \
     "" using 5 title "lxds / native with CPU 1 kept busy" lc rgb "#81c784", \
     "" using 3 title "LXDs, ATC'19 (its hardware)" lc rgb "#9e9e9e", \
     "" using (\$0 - 0.25):(0.05):4 with labels notitle, \
     "" using (\$0):(\$5 == \$5 ? 0.05 : 1/0):(sprintf("%.2f", \$5)) with labels notitle, \
     "" using (\$0 + 0.25):(0.05):(sprintf("%.2f", \$3)) with labels notitle
GP
echo "plot.sh: wrote $out" >&2
