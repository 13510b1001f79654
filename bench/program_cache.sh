#!/bin/sh
# Does our on-disk program binary cache help on this device? Builds every
# kernel program in fresh processes under four conditions and prints the
# seconds of each: driver cache cold/warm x our cache off/on.
# Usage: bench/program_cache.sh [path/to/bench_build]   (from a build directory)
set -e
bin="${1:-./bench/bench_build}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # label, pocl cache dir, our cache on/off
    POCL_CACHE_DIR="$2" SG2_CACHE_DIR="$tmp/ours" SG2_BINARY_CACHE="$3" "$bin" | sed "s/^{/{\"case\": \"$1\", /"
}
run "driver cache cold, ours off" "$tmp/pocl1" 0
run "driver cache warm, ours off" "$tmp/pocl1" 0
run "driver cache cold, ours on (fills it)" "$tmp/pocl2" 1
run "driver cache cold, ours on (warm)" "$tmp/pocl3" 1
run "driver cache warm, ours on (warm)" "$tmp/pocl3" 1
