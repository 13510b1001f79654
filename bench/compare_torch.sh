#!/bin/sh
# Side by side: stylegan2-cl (bench_generate, bench_train) against our PyTorch implementation
# of the same model (bench/torch_bench.py), interleaved in one run (ours, torch, ours, torch
# per workload) because the machine is shared: only the ratios mean anything.
#
# Usage (from a build directory, after `make bench`):
#   sh /path/to/bench/compare_torch.sh [--gen 32,64,256,1024] [--train 32,64] [--rounds 2]
#                                      [--budget SECONDS] [--cycles N] [--threads 2]
# --gen / --train: resolutions ("" or "none" skips). Settings are the issue's: generator forward
# at bench_generate's presets, batch 8 (2 at 1024^2), with channel_max 256 at 32^2 and 64^2
# (2 mapping layers at 32^2, 8 at 64^2); training at channel_base 16384, channel_max 256,
# batch 8, 2 mapping layers at 32^2 and 8 at 64^2, timed over 16-iteration cycles (16 Gmain +
# 16 Dmain, 4 Greg, 1 Dreg). --budget is per program run (default 60 s);
# --cycles caps the timed training cycles per run (default 1).
# Environment: PYTHON (default /usr/bin/python3, which has Debian's python3-torch; PyPI's wheel,
# with MKL and a newer oneDNN, is much faster on CPU: pip install torch in a venv and point
# PYTHON at it to compare against the stronger one), BENCH_DIR
# (where bench_generate and bench_train are; default ./bench).
# Prints one table: workload, ours img/s, torch img/s, ratio ours/torch (> 1: ours faster),
# each the mean over the rounds, and every round's ratio. Raw JSON lines go to the log file
# named at the end.
set -u
here=$(cd "$(dirname "$0")" && pwd)
gen=32,64,256,1024 train=32,64 rounds=2 budget=60 cycles=1 threads=2
while [ $# -gt 0 ]; do
    case "$1" in
    --gen) gen=$2 ;;
    --train) train=$2 ;;
    --rounds) rounds=$2 ;;
    --budget) budget=$2 ;;
    --cycles) cycles=$2 ;;
    --threads) threads=$2 ;;
    *) echo "usage: compare_torch.sh [--gen LIST] [--train LIST] [--rounds N] [--budget S] [--cycles N] [--threads N]" >&2
       exit 2 ;;
    esac
    shift 2 || { echo "compare_torch.sh: $1 needs a value" >&2; exit 2; }
done
[ "$gen" = none ] && gen=
[ "$train" = none ] && train=
PYTHON=${PYTHON:-/usr/bin/python3}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "PyTorch not installed: pip install torch or apt-get install python3-torch"
    echo "(looked with $PYTHON; set PYTHON=... to use another interpreter)"
    exit 0
fi
bdir=${BENCH_DIR:-./bench}
for p in bench_generate bench_train; do
    if [ ! -x "$bdir/$p" ]; then
        echo "compare_torch.sh: $bdir/$p not found: run 'make bench' in a build directory, or set BENCH_DIR" >&2
        exit 1
    fi
done
log=$(mktemp "${TMPDIR:-/tmp}/compare_torch.XXXXXX")
rows=$(mktemp "${TMPDIR:-/tmp}/compare_torch_rows.XXXXXX")
ips() { sed -n 's/^{.*"images_per_s": \([-0-9.eE+]*\).*/\1/p' | tail -n 1; }

# run_one CMD...: runs it, appends its output to the log, prints the img/s of its last JSON line.
run_one() {
    echo "### $*" >>"$log"
    "$@" >"$log.out" 2>&1
    cat "$log.out" >>"$log"
    v=$(ips <"$log.out")
    echo "${v:-nan}"
}

compare() { # NAME, then ours and torch command lines as two strings
    name=$1 ours=$2 theirs=$3
    echo "running $name ..." >&2
    r=1
    while [ "$r" -le "$rounds" ]; do
        # shellcheck disable=SC2086
        o=$(run_one $ours)
        # shellcheck disable=SC2086
        t=$(run_one $theirs)
        echo "  round $r: ours $o img/s, torch $t img/s" >&2
        echo "$name $o $t" >>"$rows"
        r=$((r + 1))
    done
}

py="$PYTHON $here/torch_bench.py"
for res in $(echo "$gen" | tr ',' ' '); do
    b=8 shape= tag=
    [ "$res" -ge 1024 ] && b=2
    # the issue's generator settings: channel_max 256, 2 mapping layers at 32^2 and 8 at 64^2
    [ "$res" -eq 32 ] && shape="--cmax 256 --map 2" tag=/cmax256/map2
    [ "$res" -eq 64 ] && shape="--cmax 256 --map 8" tag=/cmax256/map8
    compare "gen${res}^2$tag/b$b" "$bdir/bench_generate --presets $res --batches $b --budget $budget $shape" \
        "$py gen --threads $threads --presets $res --batches $b --budget $budget $shape"
done
for res in $(echo "$train" | tr ',' ' '); do
    m=2
    [ "$res" -ge 64 ] && m=8
    args="--res $res --cbase 16384 --cmax 256 --map $m --batch 8 --cycles $cycles --budget $budget"
    compare "train${res}^2/map$m/b8" "$bdir/bench_train $args" "$py train --threads $threads $args"
done

echo
echo "stylegan2-cl vs PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)') (CPU, $threads threads), interleaved, $rounds round(s)"
awk '
    { n[$1]++; o[$1] += $2; t[$1] += $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 }
      r[$1] = r[$1] sprintf(" %.3g", ($3 > 0 ? $2 / $3 : 0)) }
    END {
        printf "%-22s %12s %12s %8s  %s\n", "workload", "ours img/s", "torch img/s", "ratio", "per-round ratios"
        for (i = 1; i <= k; i++) { w = order[i]; a = o[w] / n[w]; b = t[w] / n[w]
            printf "%-22s %12.4g %12.4g %8.3f %s\n", w, a, b, (b > 0 ? a / b : 0), r[w] }
    }' "$rows"
echo "ratio = ours / torch (> 1: stylegan2-cl faster)."
echo "same model on both sides (parameter counts from sg2_train's log and from the torch shapes):"
awk '/^### / { who = ($0 ~ /torch_bench/) ? "torch" : "ours " }
     /^model: G: [0-9]+ parameters, D:|^GFLOP\/img/ { line = who "  " $0; if (!(line in s)) { s[line] = 1; print "  " line } }' "$log"
echo "raw output: $log"
rm -f "$rows" "$log.out"
