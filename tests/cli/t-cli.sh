#!/usr/bin/env bash
# t-cli.sh - the nrg CLI end to end: exit statuses, signals, messages, JSON contract, store.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"
: "${NRG:?set NRG to the nrg binary}" "${NRG_DEMO:?set NRG_DEMO to nrg-demo}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NRG_DB=$tmp/nrg.db NRG_CONFIG=$tmp/none.conf NRG_NVML_LIB=$tmp/no-such-libnvml.so
cd "$tmp" || exit 1

# --- help, version, usage errors
out=$("$NRG" --version); ok $? "--version exits 0"
case $out in "nrg "[0-9]*) ok 0 "--version prints the version";; *) ok 1 "--version prints the version ($out)";; esac
"$NRG" --help | grep -q "usage: nrg"; ok $? "--help prints usage on stdout"
for c in run list runs report export; do
	"$NRG" $c --help | grep -q "usage: nrg $c"; ok $? "nrg $c --help"
done
"$NRG" frobnicate 2>err; is $? 2 "an unknown command exits 2"
grep -q "hint: see 'nrg --help'" err; ok $? "and says where to look"
"$NRG" run 2>err; is $? 2 "run without a command exits 2"
"$NRG" run --interval 0.1us -- true 2>err; is $? 2 "an interval under 1 ms is refused"
grep -q "interval" err; ok $? "with a message naming the option"
"$NRG" run --source bogus -- true 2>err; is $? 2 "an unknown source is refused"
grep -q "unknown source 'bogus'" err; ok $? "and named"

# --- nrg list: every source, with the reason and the fix for the missing ones
"$NRG" list >list.txt; ok $? "nrg list exits 0"
for src in nvml rapl hwmon estimate; do grep -q "^$src " list.txt; ok $? "nrg list names $src"; done
grep -A2 "^nvml .*absent" list.txt | grep -q "why: cannot load .*no-such-libnvml.so"; ok $? "the missing NVML library is explained"
grep -A2 "^nvml .*absent" list.txt | grep -q "fix: "; ok $? "with a fix"
"$NRG" list --json >list.json && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert {s["name"] for s in d["sources"]} == {"nvml","rapl","hwmon","estimate"}; assert all(s["reason"] for s in d["sources"])' list.json
ok $? "nrg list --json lists every source with a reason"

# --- configuration files
printf '[run]\ninterval = 20ms\nfrobs = 3\n' >good.conf
NRG_CONFIG=$PWD/good.conf "$NRG" run -q --json cfg.json -- true 2>err; ok $? "a config file is read"
is "$(jq_ cfg.json "d['run']['interval_us']")" "20000" "its interval is used"
grep -q "unknown setting \[run\] frobs, ignoring" err; ok $? "an unknown setting is named and ignored"
NRG_CONFIG=$PWD/good.conf "$NRG" run -q -i 50ms --json cfg2.json -- true
is "$(jq_ cfg2.json "d['run']['interval_us']")" "50000" "an option overrides the file"
printf '[run]\nthis is not ini\n' >bad.conf
NRG_CONFIG=$PWD/bad.conf "$NRG" runs 2>err; is $? 125 "a broken config file stops nrg"
grep -q "bad.conf:2: not a valid INI line" err; ok $? "naming the file and line"
printf '[report]\nprice = cheap\n' >bad2.conf
NRG_CONFIG=$PWD/bad2.conf "$NRG" runs 2>err; is $? 125 "a bad value stops nrg"
grep -q "price = cheap: not a non-negative number" err; ok $? "naming the setting"
printf '[report]\ngrid_intensity = 400\nprice = 0.3\ncurrency = EUR\npue = 1.5\n[rated]\ncpu_watts = 100\nnode_watts = 1000\n' >f.conf
NRG_CONFIG=$PWD/f.conf "$NRG" run -q --json f.json -- "$NRG_DEMO" 0.3 >/dev/null 2>&1
python3 - f.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["total"]
assert t["pue"] == 1.5 and t["currency"] == "EUR", t
assert abs(d["composition"]["rated_guess_j"] - 1000 * d["run"]["duration_s"]) < 1e-6, d["composition"]
if t["energy_j"] is not None:
    kwh = t["energy_j"] / 3.6e6
    assert abs(t["co2e_g"] - kwh * 1.5 * 400) < 1e-9 and abs(t["cost"] - kwh * 1.5 * 0.3) < 1e-12, t
else:
    assert t["co2e_g"] is None and t["cost"] is None, t
PY
ok $? "CO2e and cost follow the grid intensity, price and PUE (null when the energy is unknown); the node rating drives the guess"

# --- exit status pass-through
"$NRG" run -q -- true; is $? 0 "exit 0 passes through"
"$NRG" run -q -- sh -c 'exit 3'; is $? 3 "exit 3 passes through"
"$NRG" run -q -- sh -c 'kill -TERM $$'; is $? 143 "death by SIGTERM gives 128+15"
"$NRG" run -q -- no-such-command-xyz 2>err; is $? 127 "a missing command exits 127"
grep -q "cannot run 'no-such-command-xyz'" err; ok $? "with a message naming it"
"$NRG" run -q -- "$tmp" 2>err; is $? 126 "a non-executable exits 126"
"$NRG" run -q -i 10ms -- sh -c 'echo data' >out 2>err; is "$(cat out)" "data" "the command's stdout is untouched"

# --- the report and the JSON contract
"$NRG" run -i 20ms --json run.json -- "$NRG_DEMO" 0.6 >/dev/null 2>report.txt; is $? 0 "a demo run succeeds"
grep -q "nrg: run" report.txt; ok $? "the text report goes to stderr"
python3 - run.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
req_run = ["id", "command", "exit_status", "start_time", "duration_s", "host"]
assert all(k in d["run"] for k in req_run), d["run"]
assert d["nrg_version"]
assert isinstance(d["run"]["command"], list) and d["run"]["command"][1] == "0.6"
assert d["run"]["exit_status"] == 0
assert 0.5 < d["run"]["duration_s"] < 5, d["run"]["duration_s"]
assert d["run"]["start_time"].endswith("Z") and "T" in d["run"]["start_time"]
for dev in d["devices"]:
    for k in ["id", "kind", "vendor", "name", "source", "method", "energy_j", "avg_power_w", "peak_power_w", "samples"]:
        assert k in dev, (k, dev)
    assert dev["kind"] in ("gpu", "cpu", "dram", "node", "other")
    assert dev["method"] in ("counter", "power", "estimate", None)
    if dev["energy_j"] is None:
        assert dev["why"], dev
for k in ["energy_j", "measured_j", "estimated_j"]:
    assert k in d["total"]
PY
ok $? "the JSON report has the contract's fields"
"$NRG" run -q --json - -- true >stdout.json; ok $? "--json - writes to stdout"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' stdout.json; ok $? "and it parses"

# --- stored runs
"$NRG" runs >runs.txt; ok $? "nrg runs"
[ "$(grep -c '^ *[0-9]' runs.txt)" -ge 8 ]; ok $? "lists every run"
"$NRG" report --json >latest.json; ok $? "nrg report --json of the latest run"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["run"]["command"]==["true"]' latest.json; ok $? "the latest run is the last one"
id=$(jq_ run.json "d['run']['id']")
"$NRG" report --json "$id" >again.json
python3 - run.json again.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["run"] == b["run"], (a["run"], b["run"])
assert [x["energy_j"] for x in a["devices"]] == [x["energy_j"] for x in b["devices"]]
PY
ok $? "nrg report rebuilds the same report from the store"
"$NRG" report 999999 2>err; is $? 1 "a missing run id fails"
grep -q "not found" err; ok $? "and says so"
"$NRG" export "$id" >samples.csv; ok $? "nrg export --csv"
is "$(head -1 samples.csv)" "time_s,device,channel,value,unit" "CSV header"
"$NRG" export --json "$id" >samples.json && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' samples.json
ok $? "nrg export --json parses"

# --- regions marked from a shell script
cat >marks.sh <<'SH'
"$NRG" mark begin train --kind train
"$NRG" mark begin epoch --epoch 0 --kind train; sleep 0.3; "$NRG" mark end epoch --units 64 --unit samples
"$NRG" mark begin epoch --epoch 1 --kind train; sleep 0.3; "$NRG" mark end epoch --units 64 --unit samples
"$NRG" mark event checkpoint
"$NRG" mark end train
"$NRG" mark begin eval --kind eval; sleep 0.2; "$NRG" mark end eval --units 32 --unit samples
SH
NRG="$NRG" "$NRG" run -q -i 20ms --json marks.json -- bash marks.sh; ok $? "a script marking regions with nrg mark"
python3 - marks.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["regions"]
names = [(x["name"], x["kind"], x["epoch"]) for x in r]
assert names == [("train", "train", None), ("epoch", "train", 0), ("epoch", "train", 1), ("eval", "eval", None)], names
assert r[1]["parent"] == 0 and r[2]["parent"] == 0 and r[3]["parent"] is None, r
assert r[0]["units"] == 128 and r[0]["unit"] == "samples", r[0]   # train sums its epochs
assert r[3]["units"] == 32, r[3]
for x in r:
    assert x["end_s"] > x["start_s"] and x["closed"], x
    assert "devices" in x and "energy_j" in x, x
assert 0.25 < r[1]["end_s"] - r[1]["start_s"] < 1.5, r[1]
assert any(m["name"] == "checkpoint" for m in d["marks"]), d["marks"]
for k in ["train_j", "eval_j", "infer_j", "other_j", "unattributed_j", "events_lost"]:
    assert k in d["phases"], d["phases"]
assert d["phases"]["events_lost"] == 0
PY
ok $? "the report's regions: tree, kinds, epochs, units, marks and phases"
"$NRG" report --regions all --skip-epochs 1,0 >regions.txt; ok $? "nrg report --regions all --skip-epochs 1,0"
grep -q "epoch" regions.txt; ok $? "shows the epochs"
"$NRG" report --skip-epochs x,1 2>err; is $? 2 "a bad --skip-epochs is refused"
"$NRG" mark begin x 2>err; is $? 1 "nrg mark outside a run fails"
grep -q "not inside 'nrg run'" err; ok $? "and says so"
"$NRG" mark sideways x 2>err; is $? 2 "nrg mark with a bad verb is a usage error"

# --- the database
"$NRG" runs --db /nonexistent-dir/x.db 2>err; ok $(( $? == 0 )) "an unusable database fails"
grep -q "hint: choose the database" err; ok $? "with the fix"

# --- signals: SIGTERM to nrg reaches the command, and the run is still stored
"$NRG" run -q -i 10ms --json sig.json -- sleep 30 &
pid=$!
sleep 1
kill -TERM $pid
wait $pid; is $? 143 "SIGTERM to nrg ends the command, exit 143"
is "$(jq_ sig.json "d['run']['exit_status']")" "143" "and the report is still written"

# --- SIGKILL of nrg leaves a readable database with the samples up to the last batch
"$NRG" run -q -i 10ms --db kill.db -- sleep 30 &
pid=$!
sleep 2.5
kill -KILL $pid
wait $pid 2>/dev/null
pkill -f "sleep 30" 2>/dev/null
is "$(sqlite3 kill.db 'pragma integrity_check')" "ok" "after SIGKILL the database passes integrity_check"
"$NRG" runs --db kill.db >killed.txt 2>&1; grep -q killed killed.txt; ok $? "and the run shows as killed"
grep -q killed killed.txt || diag "$(cat killed.txt)"
"$NRG" report --db kill.db --json >killed.json; ok $? "and its report can be built"

# --- two concurrent runs on one database
"$NRG" run -q -i 5ms --db conc.db -- "$NRG_DEMO" 1 >/dev/null 2>&1 &
p1=$!
"$NRG" run -q -i 5ms --db conc.db -- "$NRG_DEMO" 1 >/dev/null 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$r1:$r2" "0:0" "two concurrent runs on one database both succeed"
is "$("$NRG" runs --db conc.db | grep -c done)" "2" "and both are stored"

finish
