#!/bin/sh
# The dataset and train commands end to end, as a user runs them: make a tiny
# dataset from the bundled zip, train a few iterations, check the run
# directory, stop a run with SIGTERM and resume it, and check that bad input
# gives one line naming the file and a non-zero exit.
set -u
top_srcdir=${srcdir:-.}
bin=${SG2_BIN:-./stylegan2-cl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sg2-cli-train-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

expect_file() {
    [ -s "$1" ] || fail "missing or empty: $1"
}

# One line on stderr containing every given fragment, and exit status $2.
expect_error() {
    want_rc=$1
    shift
    frags=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "'$*' exited $rc, expected $want_rc"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "'$*' wrote $(wc -l <"$tmp/err") error lines: $(cat "$tmp/err")"
    old_ifs=$IFS
    IFS='|'
    for f in $frags; do
        grep -q -- "$f" "$tmp/err" || fail "'$*': error '$(cat "$tmp/err")' lacks '$f'"
    done
    IFS=$old_ifs
}

# 64 images of 8x8 from the bundled data (box filter), with their labels.
"$bin" dataset --source "$top_srcdir/data/fashion-mnist-32.zip" --dest "$tmp/small.zip" --max-images 64 \
    --resolution 8 >"$tmp/out" 2>&1 || fail "dataset: $(cat "$tmp/out")"
grep -q "wrote 64 images 8x8 1 channel" "$tmp/out" || fail "dataset said: $(cat "$tmp/out")"

tiny="--cbase 64 --cmax 8 --batch 4 --map 1 --tick 0.004 --snap 1"
# shellcheck disable=SC2086
"$bin" train --outdir "$tmp/runs" --data "$tmp/small.zip" $tiny --max-iters 3 --cond >"$tmp/out" 2>&1 ||
    fail "train: $(cat "$tmp/out")"
run=$(ls -d "$tmp"/runs/00000-* 2>/dev/null | head -1)
[ -n "$run" ] || fail "no run directory 00000-* under $tmp/runs"
case "$run" in *00000-small-cond-auto1-batch4) ;; *) fail "run directory named $run" ;; esac
for f in training_options.json log.txt stats.jsonl reals.png fakes_init.png fakes000000.png \
    network-snapshot-000000.safetensors; do
    expect_file "$run/$f"
done
grep -q '"Loss/G/loss": {"num": ' "$run/stats.jsonl" || fail "stats.jsonl lacks Loss/G/loss: $(head -c 300 "$run/stats.jsonl")"
grep -q '"Progress/kimg"' "$run/stats.jsonl" || fail "stats.jsonl lacks Progress/kimg"
[ "$(wc -l <"$run/stats.jsonl")" -eq 3 ] || fail "stats.jsonl has $(wc -l <"$run/stats.jsonl") lines, want 3 (ticks)"
ls "$run"/*.tmp* >/dev/null 2>&1 && fail "temporary files left in $run"

# SIGTERM: the iteration finishes, a checkpoint is written, exit 0.
# shellcheck disable=SC2086
"$bin" train --outdir "$tmp/runs" --data "$tmp/small.zip" $tiny --max-iters 100000 >"$tmp/long" 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ] && ! grep -q "^tick 1 " "$tmp/long"; do
    sleep 0.1
    i=$((i + 1))
done
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "train after SIGTERM exited $rc: $(tail -3 "$tmp/long")"
run2=$(ls -d "$tmp"/runs/00001-* 2>/dev/null | head -1)
snap=$(ls "$run2"/network-snapshot-*.safetensors 2>/dev/null | tail -1)
[ -n "$snap" ] || fail "no checkpoint after SIGTERM in $run2"
grep -q "stopped on request" "$tmp/long" || fail "no stop message: $(tail -3 "$tmp/long")"

# Resume: the counters continue from the checkpoint.
# shellcheck disable=SC2086
"$bin" train --outdir "$tmp/runs" --data "$tmp/small.zip" $tiny --max-iters 2 --resume "$snap" >"$tmp/out" 2>&1 ||
    fail "resume: $(cat "$tmp/out")"
grep -q "resumed at kimg" "$tmp/out" || fail "resume did not report its position: $(cat "$tmp/out")"

# Bad input: one line naming the file, non-zero exit.
expect_error 1 "$tmp/nothing-here|cannot open" "$bin" train --outdir "$tmp/runs" --data "$tmp/nothing-here"
printf 'not a zip' >"$tmp/bad.zip"
expect_error 1 "bad.zip|zip" "$bin" train --outdir "$tmp/runs" --data "$tmp/bad.zip"
expect_error 2 "--kimg" "$bin" train --outdir "$tmp/runs" --data "$tmp/small.zip" --kimg -3
expect_error 2 "--outdir and --data are required" "$bin" train --data "$tmp/small.zip"
expect_error 1 "nothing-here" "$bin" dataset --source "$tmp/nothing-here" --dest "$tmp/x.zip"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "cli_train: all checks passed"
