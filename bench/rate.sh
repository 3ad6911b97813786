#!/usr/bin/env bash
# bench/rate.sh: perfgo's open-loop accuracy (issue targets), run by
# bench/run.sh or on its own.
#
# Against `perfgo serve`'s identity model on loopback, for each protocol
# and target rate it runs one request-rate level (3 windows) and reports
# the achieved rate (completed and sent), the schedule lag p99 and the share
# of requests sent more than 1 ms late. Targets: achieved rate within 1% of
# the target while the server keeps up; p99 schedule lag under 1 ms at
# 10,000/s.
#
# Settings: BENCH_RATE_RATES (default "1000 10000"), BENCH_RATE_PROTOCOLS
# (default "grpc http"), BENCH_RATE_WINDOW_MS (default 2000),
# BENCH_RATE_OUT (default: stdout only; run.sh appends to its results).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rates=${BENCH_RATE_RATES:-1000 10000}
protocols=${BENCH_RATE_PROTOCOLS:-grpc http}
window=${BENCH_RATE_WINDOW_MS:-2000}
out=${BENCH_RATE_OUT:-}

command -v jq >/dev/null || { echo "bench/rate.sh: jq is missing (Debian: apt-get install -y jq)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/perfgo-rate.XXXXXX)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true # killed: non-zero by design
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/perfgo" ./cmd/perfgo
"$tmp/perfgo" serve --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --metrics-addr "" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	grep -q "gRPC on" "$tmp/server.log" 2>/dev/null && grep -q "HTTP on" "$tmp/server.log" && break
	sleep 0.1
done
http_addr=$(awk '/HTTP on/ {print $NF}' "$tmp/server.log")
grpc_addr=$(awk '/gRPC on/ {print $NF}' "$tmp/server.log")
[ -n "$http_addr" ] && [ -n "$grpc_addr" ] || { echo "bench/rate.sh: the server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }

table="| protocol | target (req/s) | completed (req/s) | sent (req/s) | completed / target | schedule lag p99 (µs) | late > 1 ms | verdict |
|---|---:|---:|---:|---:|---:|---:|---|"
for proto in $protocols; do
	addr=$grpc_addr
	[ "$proto" = http ] && addr=$http_addr
	for rate in $rates; do
		"$tmp/perfgo" -m identity -i "$proto" -u "$addr" --shape INPUT0:16 --request-rate-range "$rate" \
			-p "$window" -r 3 -s 100 --json "$tmp/r.json" >"$tmp/out" 2>&1 || true
		row=$(jq -r --arg p "$proto" --argjson r "$rate" '
			(.levels + .unreported_levels)[0].client as $c
			| ($c.schedule_lag.percentiles[] | select(.p == 99) | .value_us) as $lag
			| ($c.throughput / $r) as $ratio
			| (if ($ratio >= 0.99 and $ratio <= 1.01) then "rate PASS" else "rate MISS" end) as $rv
			| (if $r < 10000 then "" elif $lag < 1000 then ", lag PASS" else ", lag MISS" end) as $lv
			| "| \($p) | \($r) | \($c.throughput | floor) | \($c.send_rate | floor) | \($ratio * 1000 | round / 1000) | \($lag | round) | \(($c.late / $c.issued * 10000 | round) / 100)% | \($rv)\($lv) |"' "$tmp/r.json" 2>/dev/null) ||
			row="| $proto | $rate | run failed: $(tail -1 "$tmp/out") | | | | | |"
		table+=$'\n'"$row"
	done
done
echo "$table"
if [ -n "$out" ]; then
	{
		echo
		echo "## Open loop: achieved rate and schedule lag"
		echo
		echo "Command: \`BENCH_RATE_RATES='$rates' BENCH_RATE_PROTOCOLS='$protocols' BENCH_RATE_WINDOW_MS=$window ./bench/rate.sh\` (model identity, INPUT0 [1,16], 3 windows of $window ms)"
		echo
		echo "$table"
	} >>"$out"
fi
