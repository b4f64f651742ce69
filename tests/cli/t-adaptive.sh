#!/usr/bin/env bash
# t-adaptive.sh - nrg sweep --adaptive on the fake NVML's static-power law: finds the true optimum with fewer runs.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"
: "${NRG:?}" "${FAKE_NVML:?}" "${FAKE_WORK:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NRG_DB=$tmp/nrg.db NRG_CONFIG=$tmp/none.conf NRG_NVML_LIB=$FAKE_NVML
export NRG_JOURNAL=$tmp/limits.journal NRG_FAKE_NVML_STATE=$tmp/fake-state NRG_FAKE_NVML=$tmp/fake.conf
unset CUDA_VISIBLE_DEVICES NRG_FAKE_NVML_NOROOT
# one GPU demanding 400 W with 100 W of static power: energy per unit of work is lowest at 2 x idle
idle=100
printf 'gpus 1\ngpu 0 watts=400 swing=0 idle_w=%s tick_ms=10 update_ms=10 limit_default_w=400 limit_min_w=100 limit_max_w=400\n' \
	"$idle" >"$tmp/fake.conf"
cd "$tmp" || exit 1
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP setting power limits needs root"; exit 0; fi
limit0() { awk '$1 == 0 { print $2 }' fake-state; }
# the true optimum from the law: min over L of L / sqrt((L - idle) / (400 - idle)), on a 1 W grid
truth=$(awk -v i="$idle" 'BEGIN { b = 0; for (l = i + 1; l <= 400; l++) { e = l / sqrt((l - i) / (400 - i)); if (!b || e < be) { b = l; be = e } } print b }')
tol=20

"$NRG" sweep --adaptive --tolerance $tol --power-limit 100:400 --source nvml -- "$FAKE_WORK" "$FAKE_NVML" 0.3 \
	>out.txt 2>err.txt; ok $? "an adaptive sweep"
ans=$(sed -n 's/^adaptive: min energy at \([0-9]*\) W.*/\1/p' out.txt)
runs=$(sed -n 's/^adaptive: \([0-9]*\) runs; a grid at .* would need \([0-9]*\) .*/\1/p' out.txt)
grid=$(sed -n 's/^adaptive: \([0-9]*\) runs; a grid at .* would need \([0-9]*\) .*/\2/p' out.txt)
test -n "$ans" && awk -v a="$ans" -v t="$truth" -v e=$tol 'BEGIN { exit !(a - t <= 2 * e && t - a <= 2 * e) }'
ok $? "the answer ($ans W) is within 2 x tolerance of the true optimum ($truth W)"
test -n "$runs" && test -n "$grid" && test "$runs" -lt "$grid"; ok $? "fewer runs ($runs) than the grid ($grid)"
is "$grid" 16 "the grid 100:400:20 would need 16 runs"
is "$(limit0)" 400000 "the GPU is back at its default 400 W"
test ! -s limits.journal; ok $? "the journal is gone"
is "$(sqlite3 nrg.db "select count(*) from sweep_points where sweep_id = 1 and status = 'done' and run_id > 0" 2>/dev/null ||
	python3 -c "import sqlite3; print(sqlite3.connect('nrg.db').execute(\"select count(*) from sweep_points where sweep_id = 1 and status = 'done' and run_id > 0\").fetchone()[0])")" \
	"$runs" "every probe run is stored as a done point of sweep 1"
"$NRG" model 1 --json >model.json 2>err.txt; ok $? "nrg model works on the adaptive sweep"
"$NRG" sweep --resume 1 >out.txt 2>err.txt; is $? 2 "resuming an adaptive sweep is refused"
grep -q "adaptive search: it cannot be resumed" err.txt; ok $? "with a clear message"
"$NRG" sweep --adaptive -p A=1,2 -l 100:400 -- true >/dev/null 2>&1; is $? 2 "--adaptive with --param is refused"

# the grid at step = tolerance on the same law agrees with the adaptive answer
"$NRG" sweep --source nvml -l 100:400:$tol -- "$FAKE_WORK" "$FAKE_NVML" 0.3 >out.txt 2>err.txt; ok $? "the grid sweep"
"$NRG" model 2 --json >grid.json 2>err.txt; ok $? "nrg model of the grid"
gbest=$(python3 -c "
import json, sys
d = json.load(open('grid.json'))
o = d['settings'][0]['observations']
print(int(min(o, key=lambda x: x['energy_j'])['limit_w']))")
test -n "$gbest" && awk -v a="$ans" -v g="$gbest" -v e=$tol 'BEGIN { exit !(a - g <= 2 * e && g - a <= 2 * e) }'
ok $? "the grid's lowest energy ($gbest W) is within 2 x tolerance of the adaptive answer ($ans W)"
finish
