#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Checks guest/benchsuite natively (no KVM needed): the output contract that
# `kvmini bench` parses. Runs `benchsuite --quick` with --file on a temporary
# file and --tcp-rr against a local `netbench rr-server`, then the usage and
# failure paths. Prints "ok - NAME" / "not ok - NAME: why", then a summary;
# status 0 when everything passed.
#
# usage: tests/e2e/benchsuite-check.sh      (BUILD=DIR for another build dir)
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
suite=$build/benchsuite
netbench=$build/netbench
work=$(mktemp -d /tmp/benchsuite-check.XXXXXX)
server_pid=

passed=0
failed=0

cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}

not_ok() {
	echo "not ok - $1: $2"
	failed=$((failed + 1))
}

for bin in "$suite" "$netbench"; do
	if [ ! -x "$bin" ]; then
		echo "benchsuite-check: $bin missing (build first: ninja -C $build)" >&2
		exit 1
	fi
done

# The fixed interface: every id with its unit and direction.
declare -A want_unit=(
	[int_ops]=Mops/s [fp_ops]=MFLOP/s [mem_copy]=MB/s [mem_triad]=MB/s
	[mem_lat_16k]=ns [mem_lat_256k]=ns [mem_lat_4m]=ns [mem_lat_64m]=ns
	[syscall_getpid]=ns [page_fault]=ns [fork_exec]=us [clock_gettime]=ns
	[file_fsync]=us [tcp_rr]=us
)
declare -A want_better=(
	[int_ops]=higher [fp_ops]=higher [mem_copy]=higher [mem_triad]=higher
	[mem_lat_16k]=lower [mem_lat_256k]=lower [mem_lat_4m]=lower [mem_lat_64m]=lower
	[syscall_getpid]=lower [page_fault]=lower [fork_exec]=lower [clock_gettime]=lower
	[file_fsync]=lower [tcp_rr]=lower
)

# Starts a netbench rr-server on a free port: sets $port and $server_pid.
start_rr_server() {
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 30000))
		"$netbench" -a -w 60 rr-server "$port" >"$work/server.out" 2>"$work/server.err" &
		server_pid=$!
		sleep 0.2
		if kill -0 "$server_pid" 2>/dev/null; then
			return 0
		fi
		wait "$server_pid" 2>/dev/null
		server_pid=
	done
	return 1
}

# check_results FILE NAME IDS...: FILE holds exactly one valid result line per
# id, in that order, then the done line with their count, and nothing else.
check_results() {
	local file=$1 name=$2
	shift 2
	local ids=("$@") i=0 line id value unit better why=
	local re='^kvmini-bench name=([a-z0-9_]+) value=([0-9]+(\.[0-9]+)?) unit=([^ ]+) better=(lower|higher)$'

	while IFS= read -r line; do
		if [ $i -eq ${#ids[@]} ]; then
			[ "$line" = "kvmini-bench done tests=${#ids[@]}" ] ||
				why="expected 'kvmini-bench done tests=${#ids[@]}', got '$line'"
			i=$((i + 1))
			continue
		fi
		if [ $i -gt ${#ids[@]} ]; then
			why="extra line after the done line: '$line'"
			break
		fi
		if ! [[ $line =~ $re ]]; then
			why="not a result line: '$line'"
			break
		fi
		id=${BASH_REMATCH[1]}
		value=${BASH_REMATCH[2]}
		unit=${BASH_REMATCH[4]}
		better=${BASH_REMATCH[5]}
		if [ "$id" != "${ids[$i]}" ]; then
			why="line $((i + 1)) is for '$id', expected '${ids[$i]}'"
			break
		fi
		if [ "$unit" != "${want_unit[$id]:-?}" ] || [ "$better" != "${want_better[$id]:-?}" ]; then
			why="$id: unit=$unit better=$better, expected unit=${want_unit[$id]:-?} better=${want_better[$id]:-?}"
			break
		fi
		# The regex already rules out signs, exponents, inf and nan.
		if ! awk -v v="$value" 'BEGIN { exit !(v + 0 > 0) }'; then
			why="$id: value $value is not positive"
			break
		fi
		i=$((i + 1))
	done <"$file"
	if [ -z "$why" ] && [ $i -ne $((${#ids[@]} + 1)) ]; then
		why="$i lines, expected ${#ids[@]} results and a done line"
	fi
	if [ -n "$why" ]; then
		not_ok "$name" "$why"
		return 1
	fi
	ok "$name"
}

# 1. The full quick run, every optional test included.
if ! start_rr_server; then
	not_ok "rr-server" "netbench rr-server would not start: $(head -n 1 "$work/server.err")"
	echo "benchsuite-check: $passed passed, $failed failed"
	exit 1
fi
opts=(--file "$work/fsync.dat" --tcp-rr "127.0.0.1:$port")
mapfile -t ids < <("$suite" --list "${opts[@]}")
if [ ${#ids[@]} -eq ${#want_unit[@]} ]; then
	ok "--list with --file and --tcp-rr lists all ${#ids[@]} tests"
else
	not_ok "--list with --file and --tcp-rr" "listed ${#ids[@]} ids, expected ${#want_unit[@]}: ${ids[*]}"
fi
timeout 120 "$suite" --quick "${opts[@]}" >"$work/out" 2>"$work/err"
status=$?
if [ $status -eq 0 ] && [ ! -s "$work/err" ]; then
	ok "--quick: exit 0, nothing on stderr"
else
	not_ok "--quick" "status $status, stderr: $(head -n 3 "$work/err" | tr '\n' '|')"
fi
check_results "$work/out" "--quick: one valid line per listed test, then the done line" "${ids[@]}"
if wait "$server_pid" && [ "$(sed -n 1p "$work/server.out")" = "netbench accepted" ] &&
	[ "$(wc -l <"$work/server.out")" -eq 2 ] &&
	sed -n 2p "$work/server.out" | grep -qE '^netbench mode=rr-server count=[1-9][0-9]*$'; then
	ok "rr-server (-a) announced the connection, saw the round trips and a clean close"
else
	not_ok "rr-server" "$(cat "$work/server.out" "$work/server.err" | tr '\n' '|')"
fi
server_pid=
size=$(stat -c %s "$work/fsync.dat" 2>/dev/null || echo 0)
if [ "$size" -eq $((16 << 20)) ]; then
	ok "file_fsync wrote within the first 16 MiB"
else
	not_ok "file_fsync file size" "$size bytes, expected $((16 << 20))"
fi
echo "# benchsuite --quick output:"
sed 's/^/#   /' "$work/out"

# 2. The optional tests are left out without their options.
mapfile -t plain_ids < <("$suite" --list)
if [ ${#plain_ids[@]} -eq $((${#want_unit[@]} - 2)) ] &&
	! printf '%s\n' "${plain_ids[@]}" | grep -qxE 'file_fsync|tcp_rr'; then
	ok "--list alone leaves out file_fsync and tcp_rr"
else
	not_ok "--list alone" "got: ${plain_ids[*]}"
fi

# 3. --only runs just what it names, in the suite's order.
"$suite" --quick --only clock_gettime,int_ops >"$work/out" 2>"$work/err"
status=$?
if [ $status -eq 0 ]; then
	check_results "$work/out" "--only clock_gettime,int_ops" int_ops clock_gettime
else
	not_ok "--only clock_gettime,int_ops" "status $status: $(head -n 1 "$work/err")"
fi

# 4. Usage errors: status 2, one line on stderr, nothing on stdout.
for args in "--bogus" "--only" "--only no_such_test" "--only int_ops," "--only file_fsync" \
	"--tcp-rr 127.0.0.1" "--tcp-rr localhost:80" "--tcp-rr 127.0.0.1:70000" "stray"; do
	# shellcheck disable=SC2086 # split on purpose
	"$suite" $args >"$work/out" 2>"$work/err"
	status=$?
	lines=$(wc -l <"$work/err")
	if [ $status -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$work/out" ]; then
		ok "usage error '$args': status 2, one line on stderr"
	else
		not_ok "usage error '$args'" "status $status, $lines stderr lines, $(wc -c <"$work/out") bytes on stdout"
	fi
done

# 5. A failing test: an error line for it, the done line still counts it, status 1.
"$suite" --quick --only int_ops,file_fsync --file "$work/no/such/dir/f" >"$work/out" 2>"$work/err"
status=$?
if [ $status -eq 1 ] &&
	[ "$(sed -n 1p "$work/out")" = "$(grep -m1 '^kvmini-bench name=int_ops value=' "$work/out")" ] &&
	grep -qxE 'kvmini-bench name=file_fsync error=[^ ]+' "$work/out" &&
	[ "$(tail -n 1 "$work/out")" = "kvmini-bench done tests=2" ] &&
	[ "$(wc -l <"$work/out")" -eq 3 ] && [ "$(wc -l <"$work/err")" -eq 1 ]; then
	ok "a failed test: error line, done line counts it, status 1"
else
	not_ok "a failed test" "status $status, stdout: $(tr '\n' '|' <"$work/out") stderr: $(tr '\n' '|' <"$work/err")"
fi

echo "benchsuite-check: $passed passed, $failed failed"
[ $failed -eq 0 ]
