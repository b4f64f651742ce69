#!/usr/bin/env bash
# t-gpu.sh - nrg run on simulated GPUs (the fake NVML): energy vs the truth, lost and counterless GPUs.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"
: "${NRG:?}" "${NRG_DEMO:?}" "${FAKE_NVML:?}" "${TRUTH:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NRG_DB=$tmp/nrg.db NRG_CONFIG=$tmp/none.conf NRG_NVML_LIB=$FAKE_NVML
unset NRG_FAKE_NVML CUDA_VISIBLE_DEVICES
cd "$tmp" || exit 1

# nrg list explains the GPUs
"$NRG" list --source nvml >list.txt; ok $? "nrg list with the fake NVML"
grep -q "gpu0 .*NVIDIA H100" list.txt; ok $? "lists gpu0 by name"
grep -q "energy-counter" list.txt; ok $? "says which GPUs offer an energy counter"
grep -A3 "gpu2" list.txt | grep -q "no energy counter"; ok $? "says gpu2 has none and integrates power"

# The default fake: 4 H100s with square-wave power; gpu2 has no counter; gpu3 is lost 1.5 s in.
# A counter that updates every 100 ms cannot show how power moved inside the update that holds
# a bracket: with 200 W steps that is up to ~5 J per bracket, hence 6 s runs for a 0.5% bound.
for interval in 100ms 10ms; do
	CUDA_VISIBLE_DEVICES=0,2 "$NRG" run -q -i $interval --source nvml --json run.json -- sleep 6; ok $? "a 6 s run at $interval"
	t0=$(jq_ run.json "d['run']['start_mono_us']"); t1=$(jq_ run.json "d['run']['end_mono_us']")
	for g in 0 1; do
		want=$("$TRUTH" "$FAKE_NVML" $g "$t0" "$t1")
		got=$(jq_ run.json "[x for x in d['devices'] if x['id']=='gpu$g'][0]['energy_j']")
		python3 -c "import sys; g,w=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(g/w-1)<0.005 else 1)" "$got" "$want"
		ok $? "$interval: gpu$g counter energy within 0.5% of what it drew ($got J vs $want J)"
	done
	is "$(jq_ run.json "[x for x in d['devices'] if x['id']=='gpu0'][0]['method']")" "counter" "$interval: gpu0 method counter"
	is "$(jq_ run.json "[x for x in d['devices'] if x['id']=='gpu2'][0]['method']")" "power" "$interval: gpu2 (no counter) method power"
	want=$("$TRUTH" "$FAKE_NVML" 2 "$t0" "$t1")
	got=$(jq_ run.json "[x for x in d['devices'] if x['id']=='gpu2'][0]['energy_j']")
	python3 -c "import sys; g,w=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(g/w-1)<0.10 else 1)" "$got" "$want"
	ok $? "$interval: gpu2 integrated power within the sensor's 10% ($got J vs $want J)"
	is "$(jq_ run.json "[x for x in d['devices'] if x['id']=='gpu3'][0]['note'].startswith('lost at +')")" "True" "$interval: gpu3 is reported lost"
	python3 - run.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g3 = [x for x in d["devices"] if x["id"] == "gpu3"][0]
assert g3["energy_j"] is None or g3["coverage"] < 0.9, g3
assert g3["why"], g3
vis = {x["id"]: x["visible"] for x in d["devices"]}
assert vis == {"gpu0": True, "gpu1": False, "gpu2": True, "gpu3": False}, vis
assert d["composition"]["gpu_idle_j"] > 0
PY
	ok $? "$interval: lost GPU has partial coverage and a reason; CUDA_VISIBLE_DEVICES splits used and idle GPUs"
done

# A GPU with neither an energy counter nor instant power: only NVML's 1 s trailing average. nrg
# integrates it shifted by the sensor's lag; unshifted, a 4 s square wave would be ~18% off.
cat >avg.conf <<'CONF'
gpus 1
gpu 0 energy=0 noinstant=1 watts=300 swing=150 period_ms=4000
CONF
NRG_FAKE_NVML=$PWD/avg.conf "$NRG" run -q --source nvml --json avg.json -- sleep 3; ok $? "a run on an averaged-power-only GPU"
t0=$(jq_ avg.json "d['run']['start_mono_us']"); t1=$(jq_ avg.json "d['run']['end_mono_us']")
want=$(NRG_FAKE_NVML=$PWD/avg.conf "$TRUTH" "$FAKE_NVML" 0 "$t0" "$t1")
got=$(jq_ avg.json "d['devices'][0]['energy_j']")
python3 -c "import sys; g,w=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(g/w-1)<0.05 else 1)" "$got" "$want"
ok $? "1 s averaged power, lag-corrected, within 5% ($got J vs $want J)"

# --gpus restricts which GPUs are measured
"$NRG" run -q --source nvml --gpus 1 --json one.json -- true; ok $? "--gpus 1"
is "$(jq_ one.json "[x['id'] for x in d['devices']]")" "['gpu1']" "only gpu1 is measured"
finish
