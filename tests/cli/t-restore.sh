#!/usr/bin/env bash
# t-restore.sh - nrg restore end to end on the fake NVML: journal, dry run, permission, start-up warning.
# SPDX-License-Identifier: MIT
. "$(dirname "$0")/lib.sh"
: "${NRG:?}" "${FAKE_NVML:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NRG_DB=$tmp/nrg.db NRG_CONFIG=$tmp/none.conf NRG_NVML_LIB=$FAKE_NVML
export NRG_JOURNAL=$tmp/limits.journal NRG_FAKE_NVML_STATE=$tmp/fake-state NRG_FAKE_NVML=$tmp/fake.conf
unset CUDA_VISIBLE_DEVICES NRG_FAKE_NVML_NOROOT
printf 'gpus 2\n' >"$tmp/fake.conf"
uuid0=GPU-8e2f41c7-3f1a-4b6e-9c2d-7a5e0b1c0000
cd "$tmp" || exit 1

"$NRG" restore >out.txt 2>err.txt; ok $? "nothing to restore: exit 0"
grep -q "nothing to restore" out.txt; ok $? "says there is nothing to restore"
"$NRG" runs >/dev/null 2>err.txt
! grep -q "not restored" err.txt; ok $? "no start-up warning without a journal"

# What a killed nrg leaves: gpu0 capped at 250 W (the fake's shared state), its original journaled.
printf '0 250000 0\n1 700000 0\n' >fake-state
printf 'nvml %s 700000000\nnvml %s 250000000\n' "$uuid0" "$uuid0" >limits.journal

"$NRG" runs >/dev/null 2>err.txt
grep -q "nrg: warning: power limits changed by an earlier nrg were not restored ($uuid0); run 'nrg restore'" err.txt
ok $? "start-up warning names the device and the fix"
"$NRG" list --source nvml >/dev/null 2>err.txt
! grep -q "not restored" err.txt; ok $? "nrg list does not warn"

"$NRG" restore --dry-run >out.txt 2>err.txt; ok $? "restore --dry-run: exit 0"
grep -q "would restore gpu0 ($uuid0): from 250 W to 700 W" out.txt; ok $? "dry run says what it would put back"
test -s limits.journal; ok $? "dry run keeps the journal"

NRG_FAKE_NVML_NOROOT=1 "$NRG" restore >out.txt 2>err.txt; is "$?" 1 "restore without permission: exit 1"
grep -q "needs root (or CAP_SYS_ADMIN)" err.txt; ok $? "the error says root is needed"
test -s limits.journal; ok $? "the journal is kept when nothing could be restored"

"$NRG" restore >out.txt 2>err.txt; ok $? "restore: exit 0"
grep -q "restored gpu0 ($uuid0): from 250 W to 700 W" out.txt; ok $? "says what it put back"
test ! -e limits.journal; ok $? "the journal is removed"
grep -q '^0 700000 ' fake-state; ok $? "gpu0 is back at 700 W"
"$NRG" runs >/dev/null 2>err.txt
! grep -q "not restored" err.txt; ok $? "no warning after the restore"
finish
