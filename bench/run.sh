#!/usr/bin/env bash
# run.sh - every benchmark in one go, nrg and the Python sampler side by side. Usage: bench/run.sh [BUILD_DIR]
# SPDX-License-Identifier: MIT
set -euo pipefail
b=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
secs=${BENCH_SECONDS:-10}
nvml=$b/tests/fake/libnvidia-ml.so.1
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, $(uname -r)"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)"
out=$(BENCH_KEEP=1 "$b/bench/bench-sample" "$nvml" "$secs")
echo "$out"
root=$(echo "$out" | sed -n 's/^(ROOT=\([^ ]*\) .*/\1/p')
echo
echo "== side by side: a Python sampler reading the same files and the same NVML library"
for rate in 10 100 1000; do
	python3 "$here/py-sampler.py" "$root" "$nvml" $rate "$secs"
done
rm -rf "$root"
echo
echo "== start-up overhead of nrg run (wall time of 'nrg run -q -- true' minus 'true', 20 runs)"
tmp=$(mktemp -d)
t() { local s e; s=$(date +%s%N); for _ in $(seq 20); do "$@" >/dev/null 2>&1; done; e=$(date +%s%N); echo $(( (e - s) / 20000 )); }
base=$(t true)
with=$(NRG_NVML_LIB=$nvml t "$b/nrg" run -q --db "$tmp/s.db" -- true)
none=$(NRG_NVML_LIB=/nonexistent t "$b/nrg" run -q --db "$tmp/s.db" -- true)
echo "true alone: ${base} us; under nrg run (no sources): ${none} us; under nrg run (4 fake GPUs): ${with} us"
rm -rf "$tmp"

echo
echo "== marking regions: C API (bench-regions) and Python (py-regions.py)"
"$b/bench/bench-regions"
export NRG_LIBNRG=$b/libnrg.so PYTHONPATH=$here/../bindings/python${PYTHONPATH:+:$PYTHONPATH}
python3 "$here/py-regions.py" "$nvml"
tmp=$(mktemp -d)
NRG_NVML_LIB=/nonexistent "$b/nrg" run -q --db "$tmp/r.db" -- python3 "$here/py-regions.py" "$nvml"
rm -rf "$tmp"
