#!/usr/bin/env bash
# build.sh - install what is missing (Debian 12, as root), build nrg, then run the demo or the tests.
# SPDX-License-Identifier: MIT
#   ./build.sh demo   install, build, list the node's sources, measure the demo workload
#   ./build.sh test   install, build, run every test, then again under ASan+UBSan
set -euo pipefail
cd "$(dirname "$0")"

deps=(gcc meson ninja-build pkg-config libsqlite3-dev libsensors-dev libinih-dev sqlite3 python3 util-linux)
# The tests also train a small network with Debian's PyTorch (CPU) under `nrg run --auto`.
test_deps=(python3-torch)

install_deps() {
	local missing=()
	for p in "${deps[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "build.sh: installing ${missing[*]}" >&2
		if [ "$(id -u)" -ne 0 ]; then
			echo "build.sh: error: installing packages needs root (or install: ${missing[*]})" >&2
			exit 1
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

build() { # build DIR [meson options...]
	local dir=$1; shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
	ninja -C "$dir"
}

case "${1:-}" in
demo)
	install_deps
	build build
	echo
	echo "== nrg list: the sources on this node"
	./build/nrg list
	echo
	echo "== nrg run -- nrg-demo 3"
	export NRG_DATA_DIR=$PWD/data
	./build/nrg run --db build/demo.db --json build/demo.json -- ./build/nrg-demo 3
	echo "(the JSON report is in build/demo.json; 'nrg report --db build/demo.db' shows it again)"
	if ! ./build/nrg list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(s["state"]=="found" for s in d["sources"]) else 1)'; then
		echo
		echo "== no sensor can be read here and the CPU model is not in data/cpu-tdp.tsv."
		echo "   To show the labelled estimate, this demo now assumes a rated power of 100 W per"
		echo "   CPU socket (for your node: [rated] cpu_watts in ~/.config/nrg/config)."
		NRG_CPU_TDP_W=100 ./build/nrg run --db build/demo.db -- ./build/nrg-demo 3
	fi
	;;
test)
	deps+=("${test_deps[@]}")
	install_deps
	build build
	meson test -C build --print-errorlogs
	# The whole suite again with AddressSanitizer and UndefinedBehaviorSanitizer.
	build build-asan -Db_sanitize=address,undefined -Db_lundef=false
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	ASAN_OPTIONS=detect_leaks=1 meson test -C build-asan --print-errorlogs --no-suite python
	# The Python tests load the instrumented libnrg into an uninstrumented interpreter: the
	# sanitizer runtime must come first, and the interpreter's own leaks are not ours.
	ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
		meson test -C build-asan --print-errorlogs --suite python
	;;
*)
	echo "usage: ./build.sh demo|test" >&2
	exit 2
	;;
esac
