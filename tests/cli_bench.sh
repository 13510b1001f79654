#!/bin/sh
# `stylegan2-cl bench` end to end on two small ops: the JSON report has the
# fields bench/SCHEMA.md documents and both workloads passed validation. No
# timing is asserted (the machine may be busy); only that times are present.
# jq/python may be missing in CI, so the checks are greps on the 2-space
# indented output jansson writes.
set -u
bin=${SG2_BIN:-./stylegan2-cl}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sg2-cli-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

ops=bias_act_lrelu_c128_r64,upfirdn2d_up2_c128_r32,upconv3x3_c256_r16
"$bin" bench --workloads $ops --budget 0.5 --json "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" ||
    fail "bench exited non-zero: $(cat "$tmp/out" "$tmp/err")"
[ -s "$tmp/r.json" ] || fail "no report written"
json="$tmp/r.json"

# Every top-level and per-workload key of the schema.
for k in schema schema_version program time_utc budget_s device name vendor type platform platform_version \
    driver_version opencl_version opencl_c_version compute_units global_mem_bytes max_alloc_bytes \
    local_mem_bytes peak fp32_fma_gflops fma_vector_width fma_builtin copy_gbs triad_gbs runs tuning enabled \
    first_use_budget_s \
    cache_file kernels_built file kernel options workloads kind shape status error validation result \
    method rel_err tolerance repeats warmup_ms min_ms median_ms max_ms device_ms_per_run gflop \
    gflops_median gflops_best percent_of_peak percent_of_peak_best gbyte gbs_median percent_of_bandwidth \
    peak_device_bytes kernels \
    calls_per_run ms_per_run percent op_classes gflop_per_run gflops; do
    grep -q "\"$k\": " "$json" || fail "report lacks \"$k\""
done
grep -q '"schema": "stylegan2-cl-bench"' "$json" || fail "wrong schema name"
for w in bias_act_lrelu_c128_r64 upfirdn2d_up2_c128_r32 upconv3x3_c256_r16; do
    grep -q "\"name\": \"$w\"" "$json" || fail "report lacks workload $w"
    grep -q "^$w .* op " "$tmp/out" || fail "table lacks a row for $w: $(cat "$tmp/out")"
done
[ "$(grep -c '"result": "passed"' "$json")" -eq 3 ] || fail "not all validations passed: $(grep '"result"' "$json")"
[ "$(grep -c '"status": "ok"' "$json")" -eq 3 ] || fail "not all workloads ran: $(grep '"error"' "$json")"
grep -q '"median_ms": [0-9]' "$json" || fail "no median time"
grep -q '"fp32_fma_gflops": [0-9]' "$json" || fail "no peak measured"
# The best run is at least as fast as the median one, workload by workload
# (the workloads' keys, 6 spaces in; their op classes' sit deeper).
med=$(grep -o '^      "percent_of_peak": [0-9.e+-]*' "$json" | awk '{printf "%s ", $2}')
best=$(grep -o '^      "percent_of_peak_best": [0-9.e+-]*' "$json" | awk '{printf "%s ", $2}')
[ "$(echo "$med" | wc -w)" -eq 3 ] && [ "$(echo "$best" | wc -w)" -eq 3 ] ||
    fail "not three numeric percents of peak: $med / $best"
echo "$med $best" | awk '{ if ($4 < $1 || $5 < $2 || $6 < $3) exit 1 }' ||
    fail "percent of peak from the best run below the median's: $med / $best"
# The transposed conv's kernels count towards its op class, with its FLOPs
# (4 x 256 x 256 x 9 x 16 x 16 multiply-adds) and a rate.
grep -q '"name": "conv_transpose 3x3 s2"' "$json" || fail "no op class for the transposed conv"
grep -A3 '"name": "conv_transpose 3x3 s2"' "$json" | grep -q '"gflop_per_run": 1.2079' ||
    fail "the transposed conv's class lacks its 1.2079 GFLOP: $(grep -A3 '"name": "conv_transpose' "$json")"
grep -A5 '"name": "conv_transpose 3x3 s2"' "$json" | grep -q '"gflops": [0-9]' ||
    fail "the transposed conv's class has no GFLOP/s"
grep -q "% best" "$tmp/out" || fail "table lacks the % best column"
grep -q '"name": "bias_act' "$json" || fail "no per-kernel profile time for bias_act"
# Bad input: one line naming the culprit, exit 2.
"$bin" bench --workloads nosuch >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "unknown workload did not exit 2"
grep -q "nosuch" "$tmp/err" || fail "error does not name the workload: $(cat "$tmp/err")"

[ "$fails" -eq 0 ] && echo "cli_bench: ok"
exit "$fails"
