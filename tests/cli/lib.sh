# lib.sh - a tiny TAP library for the CLI tests (sourced).
# SPDX-License-Identifier: MIT
n=0
fail=0
ok() { # ok COND-EXIT-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=$((fail + 1)); fi
}
check() { # check DESCRIPTION COMMAND...
	local d=$1; shift
	"$@" >/dev/null 2>&1
	ok $? "$d"
}
is() { # is GOT WANT DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got '$1', want '$2'"; fail=$((fail + 1)); fi
}
diag() { echo "# $*"; }
finish() { echo "1..$n"; [ $fail -eq 0 ]; exit $?; }
# A JSON field through the Python interpreter's stdlib (json), e.g. jq_ FILE "d['run']['id']"
jq_() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
