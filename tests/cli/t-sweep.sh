#!/usr/bin/env bash
# t-sweep.sh - nrg sweep, nrg model and nrg run --power-limit on the fake NVML: points, restore, resume.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"
: "${NRG:?}" "${FAKE_NVML:?}" "${FAKE_WORK:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NRG_DB=$tmp/nrg.db NRG_CONFIG=$tmp/none.conf NRG_NVML_LIB=$FAKE_NVML
export NRG_JOURNAL=$tmp/limits.journal NRG_FAKE_NVML_STATE=$tmp/fake-state NRG_FAKE_NVML=$tmp/fake.conf
unset CUDA_VISIBLE_DEVICES NRG_FAKE_NVML_NOROOT
# one GPU drawing a constant 400 W, default limit 400 W, settable from 100 W
printf 'gpus 1\ngpu 0 watts=400 swing=0 limit_default_w=400 limit_min_w=100 limit_max_w=400\n' >"$tmp/fake.conf"
cd "$tmp" || exit 1
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP setting power limits needs root"; exit 0; fi
limit0() { awk '$1 == 0 { print $2 }' fake-state; }
q() { sqlite3 nrg.db "$1" 2>/dev/null || python3 -c "import sqlite3,sys; print('\n'.join('|'.join(str(c) for c in r) for r in sqlite3.connect('nrg.db').execute(sys.argv[1])))" "$1"; }

# A sweep: 4 limits x 2 values of a parameter x 2 repetitions; the command sees the parameter.
"$NRG" sweep --source nvml -l 150:300:50 -p BATCH=1,2 -r 2 -- sh -c 'test -n "$BATCH" && exec "$0" "$@"' \
	"$FAKE_WORK" "$FAKE_NVML" 0.4 >out.txt 2>err.txt; ok $? "a sweep of 16 runs"
grep -q "^sweep 1: 16 runs, 0 failed" out.txt; ok $? "says all 16 runs are done"
grep -q '^\[16/16\] .* W BATCH=[12] rep 2: .* J .* s, ' err.txt; ok $? "progress lines with energy, time and time left"
is "$(q "select count(*) from sweep_points where sweep_id = 1 and status = 'done' and run_id is not null")" 16 "16 points stored done with their runs"
is "$(q "select count(distinct limit_uw) from sweep_points where sweep_id = 1")" 4 "4 limits"
is "$(limit0)" 400000 "the GPU is back at its default 400 W after the sweep"
test ! -s limits.journal; ok $? "the journal is gone"
settings=$(q "select settings from runs r join sweep_points p on p.run_id = r.id where p.sweep_id = 1 and p.limit_uw = 150000000 limit 1")
case $settings in *'"power_limit_w":150'*) ok 0 "a run records its limit";; *) ok 1 "a run records its limit ($settings)";; esac

# nrg model: fits, recommendations; min energy at the lowest limit (energy ~ limit^(2/3) here)
"$NRG" model 1 >model.txt 2>err.txt; ok $? "nrg model"
grep -q "LOO\|leave-one-out" model.txt; ok $? "prints the fits with their cross-validated error"
grep -q "min energy  .* 150 W" model.txt; ok $? "min energy: the lowest limit, 150 W"
"$NRG" model 1 --json >model.json 2>err.txt; ok $? "nrg model --json"
python3 - model.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["sweep"] == 1 and len(d["settings"]) == 2, d.keys()
for s in d["settings"]:
    r = s["recommendations"]
    assert abs(r["energy"]["limit_w"] - 150) < 1, r["energy"]
    assert r["edp"]["ok"] and r["budget"]["ok"], r
    assert s["models"]["energy"]["chosen"], s["models"]
    assert len(s["observations"]) == 8
PY
ok $? "JSON parses: two settings, min energy at 150 W, EDP and budget recommendations"
"$NRG" model 1 --csv >model.csv 2>/dev/null
is "$(head -1 model.csv)" "limit_w,rep,energy_j,runtime_s,edp_js,params" "CSV header"
is "$(tail -n +2 model.csv | wc -l)" 16 "CSV: one row per run"

# A failing command is recorded and the sweep goes on
"$NRG" sweep --source nvml -l 200,300 -- "$FAKE_WORK" "$FAKE_NVML" 0.1 3 >out.txt 2>err.txt
grep -q "^sweep 2: 2 runs, 2 failed" out.txt; ok $? "failed runs are recorded and the sweep goes on"
is "$(q "select group_concat(status || ':' || exit_status) from sweep_points where sweep_id = 2")" "failed:3,failed:3" "status failed with the exit status"

# SIGKILL mid-way: the journal holds the original; nrg restore puts it back; --resume finishes
"$NRG" sweep --source nvml -l 150:300:50 -- "$FAKE_WORK" "$FAKE_NVML" 1 >out.txt 2>err.txt &
pid=$!
for _ in $(seq 100); do grep -q '^\[1/4\]' err.txt 2>/dev/null && break; sleep 0.1; done
kill -KILL $pid; wait $pid 2>/dev/null
test -s limits.journal; ok $? "a killed sweep leaves the journal"
test "$(limit0)" != 400000; ok $? "and the GPU capped"
"$NRG" restore >out.txt 2>&1; ok $? "nrg restore"
is "$(limit0)" 400000 "restore puts the default 400 W back"
"$NRG" sweep --resume 3 >out.txt 2>err.txt; ok $? "sweep --resume"
grep -q "^sweep 3: [1-3] runs, 0 failed" out.txt; ok $? "resume runs only the points not done"
is "$(q "select count(*) from sweep_points where sweep_id = 3 and status = 'done'")" 4 "all 4 points done after the resume"
is "$(limit0)" 400000 "limit restored after the resume"

# nrg run --power-limit: set for the run, restored after it
"$NRG" run -q --source nvml --power-limit 300 -- sh -c "awk '\$1 == 0 { print \$2 }' fake-state >seen.txt" 2>err.txt
ok $? "run --power-limit 300"
is "$(cat seen.txt)" 300000 "the command ran at 300 W"
is "$(limit0)" 400000 "and the limit is restored"
"$NRG" run -q --source nvml --power-limit recommended:1 -- sh -c "awk '\$1 == 0 { print \$2 }' fake-state >seen.txt" 2>err.txt
ok $? "run --power-limit recommended:1"
is "$(cat seen.txt)" 150000 "the recommended (min energy) 150 W is applied"
"$NRG" run -q --source nvml --power-limit 80% -- sh -c 'kill -TERM $PPID; sleep 1' 2>err.txt
is "$(limit0)" 400000 "SIGTERM during the run: limit restored"
# Options: a percentage range, random order, baseline, warm-up, and a workload marking a train region
printf '#!/bin/sh\n"$NRG" mark begin t --kind train || exit 9\n"$FAKE_WORK" "$FAKE_NVML" 0.2 || exit 8\n"$NRG" mark end t\n' >train.sh
chmod +x train.sh
"$NRG" sweep --source nvml -l 50%:100%:25% -r 2 --order random --seed 1 --baseline 0.5 --warmup 1 -- ./train.sh \
	>out.txt 2>err.txt; ok $? "a sweep with 50%:100%:25%, random order, baseline and warm-up"
is "$(q "select group_concat(l) from (select distinct limit_uw / 1000000 as l from sweep_points where sweep_id = 4 and kind = 'run' order by l)")" \
	"200,300,400" "50%:100%:25% of the default 400 W: 200, 300, 400 W"
order=$(q "select group_concat((limit_uw / 1000000) || '/' || rep) from (select * from sweep_points where sweep_id = 4 and kind = 'run' order by idx)")
test -n "$order" && test "$order" != "200/1,300/1,400/1,200/2,300/2,400/2"; ok $? "random order differs from the grid ($order)"
is "$(echo "$order" | tr , '\n' | sort | tr '\n' ,)" "200/1,200/2,300/1,300/2,400/1,400/2," "with the same set of points"
is "$(q "select count(*) from sweep_points where sweep_id = 4 and kind = 'baseline' and status = 'done'")" 1 "a baseline run stored"
grep -q "^nrg: idle baseline: [0-9.]* W on average" err.txt; ok $? "its average power is printed"
is "$(q "select count(*) from sweep_points where sweep_id = 4 and kind = 'warmup' and status = 'done'")" 1 "a warm-up run stored"
"$NRG" model 4 --json >m4.json 2>err.txt
python3 -c "import json,sys; o=json.load(open('m4.json'))['settings'][0]['observations']; sys.exit(len(o) != 6)"
ok $? "nrg model leaves the baseline and the warm-up out (6 observations)"
"$NRG" model 4 --kind train --json >m4t.json 2>err.txt
python3 - m4.json m4t.json <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert b["objective"] == "train", b.get("objective")
ob = b["settings"][0]["observations"]; oa = a["settings"][0]["observations"]
assert len(ob) == 6
# the train region is a part of each run: less time than the whole run
assert all(x["runtime_s"] > 0 for x in ob) and sum(x["runtime_s"] for x in ob) < sum(x["runtime_s"] for x in oa)
PY
ok $? "nrg model --kind train models the train regions"

# 'all': the device's min..max in 25 W steps
"$NRG" sweep --source nvml -l all -- "$FAKE_WORK" "$FAKE_NVML" 0.05 >out.txt 2>err.txt; ok $? "a sweep over 'all'"
is "$(q "select group_concat(limit_uw / 1000000) from sweep_points where sweep_id = 5 order by idx")" \
	"100,125,150,175,200,225,250,275,300,325,350,375,400" "'all': 100..400 W in 25 W steps"

# End-to-end truth: with static power (idle_w) the energy optimum is interior; the model finds it
printf 'gpus 1\ngpu 0 watts=400 swing=0 idle_w=100 tick_ms=10 update_ms=10 limit_default_w=400 limit_min_w=100 limit_max_w=400 energy=1\n' >"$tmp/fake.conf"
truth=$(awk 'BEGIN { i = 100; b = 0; for (l = i + 1; l <= 400; l++) { e = l / sqrt((l - i) / (400 - i)); if (!b || e < be) { b = l; be = e } } print b }')
"$NRG" sweep --power-limit 120:400:40 --repeat 2 --source nvml -- "$FAKE_WORK" "$FAKE_NVML" 1.0 >out.txt 2>err.txt
ok $? "a sweep on the static-power law"
"$NRG" model 6 --json >m6.json 2>err.txt; ok $? "nrg model of it"
python3 - m6.json "$truth" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); truth = float(sys.argv[2])
s = d["settings"][0]; r = s["recommendations"]
assert abs(r["energy"]["limit_w"] - truth) <= 20, (r["energy"], truth)
assert r["edp"]["ok"] and r["edp"]["limit_w"] > 0, r["edp"]
e = {}
for o in s["observations"]:
    e.setdefault(round(o["limit_w"]), []).append(o["energy_j"])
m = {k: sum(v) / len(v) for k, v in e.items()}
assert m[200] < m[400], m
PY
ok $? "min-energy recommendation within 20 W of the true optimum ($truth W), 200 W beats 400 W, EDP recommended"
is "$(limit0)" 400000 "the limit is restored"
finish
