#!/usr/bin/env bash
# bench/soak.sh: perfgo against a server that keeps restarting (not run by
# CI or make bench: it takes SOAK_MINUTES).
#
# One concurrency level for SOAK_MINUTES against `perfgo serve`'s simple
# model on loopback, while the server is killed (SIGKILL) and started again
# on the same ports every SOAK_RESTART_S seconds. It samples perfgo's RSS
# every 5 s and checks, from perfgo's JSON report:
#   - RSS flat: the largest sample after the warm-up (SOAK_WARMUP_S, 120 s)
#     is within 10% of the sample at its end;
#   - every restart visible: each restart falls in (or next to) a window
#     with failed requests, and the level's failures are counted by class;
#   - nothing lost: the JSON holds every window, and the windows' requests
#     add up to the level's total.
# The level never stabilises on purpose (-s 0, one window per
# SOAK_WINDOW_MS), so perfgo exits 2 and reports it in unreported_levels.
#
# Settings: SOAK_MINUTES (10), SOAK_RESTART_S (60), SOAK_CONCURRENCY (64), SOAK_WARMUP_S (120),
# SOAK_PROTOCOL (grpc), SOAK_WINDOW_MS (10000), SOAK_OUT (a directory to
# keep the JSON, CSV, logs and RSS samples in; default: a temporary one).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${SOAK_MINUTES:-10}
restart_s=${SOAK_RESTART_S:-60}
concurrency=${SOAK_CONCURRENCY:-64}
proto=${SOAK_PROTOCOL:-grpc}
window_ms=${SOAK_WINDOW_MS:-10000}
warmup_s=${SOAK_WARMUP_S:-120}

command -v jq >/dev/null || { echo "bench/soak.sh: jq is missing (Debian: apt-get install -y jq)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/perfgo-soak.XXXXXX)
out=${SOAK_OUT:-$tmp}
mkdir -p "$out"
server_pid= client_pid=
stop_pid() {
	if [ -n "$1" ]; then
		kill "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true # killed: non-zero by design
	fi
}
cleanup() {
	stop_pid "$client_pid"
	stop_pid "$server_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/perfgo" ./cmd/perfgo

# start_server ADDR_HTTP ADDR_GRPC: starts perfgo serve and waits until
# both listeners are up.
start_server() {
	"$tmp/perfgo" serve --http-addr "$1" --grpc-addr "$2" --metrics-addr "" >>"$out/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		[ "$(grep -c -e "gRPC on" -e "HTTP on" "$out/server.log")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "bench/soak.sh: the server did not start:" >&2
	cat "$out/server.log" >&2
	exit 1
}
: >"$out/server.log"
start_server 127.0.0.1:0 127.0.0.1:0 2
http_addr=$(awk '/HTTP on/ {print $NF}' "$out/server.log")
grpc_addr=$(awk '/gRPC on/ {print $NF}' "$out/server.log")
addr=$grpc_addr
[ "$proto" = http ] && addr=$http_addr

windows=$((minutes * 60000 / window_ms))
started=$(date +%s.%N)
"$tmp/perfgo" -m simple -i "$proto" -u "$addr" --concurrency-range "$concurrency" \
	-p "$window_ms" -r "$windows" -s 0 --request-timeout 5s \
	--json "$out/soak.json" -f "$out/soak.csv" >"$out/perfgo.out" 2>"$out/perfgo.err" &
client_pid=$!

# Sample RSS every 5 s; restart the server every restart_s seconds.
: >"$out/rss.tsv"
: >"$out/restarts.txt"
ups=2
next_restart=$restart_s
elapsed=0
while kill -0 "$client_pid" 2>/dev/null; do
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$client_pid/status" 2>/dev/null || true)
	[ -n "$rss" ] && printf '%s\t%s\n' "$elapsed" "$rss" >>"$out/rss.tsv"
	sleep 5
	elapsed=$((elapsed + 5))
	if [ "$elapsed" -ge "$next_restart" ] && [ "$elapsed" -lt $((minutes * 60)) ]; then
		kill -KILL "$server_pid"
		wait "$server_pid" 2>/dev/null || true
		echo "$(date +%s.%N)" >>"$out/restarts.txt"
		sleep 1
		ups=$((ups + 2))
		start_server "$http_addr" "$grpc_addr" "$ups"
		next_restart=$((next_restart + restart_s))
	fi
done
set +e
wait "$client_pid"
code=$?
set -e
client_pid=

echo "perfgo exited $code (2 expected: the level never stabilises by design)"
[ -s "$out/soak.json" ] || { echo "FAIL: no JSON report"; cat "$out/perfgo.err"; exit 1; }
fail=0

# RSS: the sample at the end of the warm-up against the largest one after it.
read -r base peak last < <(awk -v w="$warmup_s" '$1 >= w { if (!b) b = $2; if ($2 > p) p = $2; l = $2 } END { print b + 0, p + 0, l + 0 }' "$out/rss.tsv")
[ "$base" -gt 0 ] || { echo "FAIL: no RSS sample after the ${warmup_s} s warm-up"; exit 1; }
ratio=$(awk -v b="$base" -v p="$peak" 'BEGIN { printf "%.3f", p / b }')
echo "RSS KiB: at ${warmup_s} s $base, peak after $peak, last $last: peak/base = $ratio (target <= 1.10)"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.10) }' || { echo "FAIL: RSS grew more than 10%"; fail=1; }

# Windows and failures.
jq -r '(.levels + .unreported_levels)[0] |
	"windows \(.windows), total requests \(.total.requests), failed \(.total.failed) (\(.total.failed_percent)%), by class: \([.failures[] | "\(.class) \(.count)"] | join(", "))"' "$out/soak.json"
sum=$(jq '(.levels + .unreported_levels)[0] | ([.passes[].requests] | add) == .total.requests and ([.passes[].failed] | add) == .total.failed' "$out/soak.json")
[ "$sum" = true ] || { echo "FAIL: the windows do not add up to the level's total"; fail=1; }
jq -r '(.levels + .unreported_levels)[0].passes | to_entries[] | "  window \(.key + 1): \(.value.requests) ok, \(.value.failed) failed \([.value.failures[] | "\(.class) \(.count)"] | join(", "))"' "$out/soak.json"

# Each restart must land in a window with failures (the window it falls
# in, or the next: a window boundary can split a restart).
restarts=$(wc -l <"$out/restarts.txt")
seen=0
while read -r at; do
	k=$(awk -v a="$at" -v s="$started" -v w="$window_ms" 'BEGIN { printf "%d", (a - s) * 1000 / w }')
	hit=$(jq --argjson k "$k" '(.levels + .unreported_levels)[0].passes as $p | [($p[$k] // {failed: 0}).failed, ($p[$k + 1] // {failed: 0}).failed, ($p[$k - 1] // {failed: 0}).failed] | add > 0' "$out/soak.json")
	[ "$hit" = true ] && seen=$((seen + 1))
done <"$out/restarts.txt"
echo "restarts: $restarts, visible as failures: $seen"
[ "$seen" -eq "$restarts" ] || { echo "FAIL: a restart left no failure in the report"; fail=1; }
[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
