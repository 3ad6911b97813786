#!/usr/bin/env bash
# bench/rate.sh: perfgo's open-loop accuracy (issue targets), run by
# bench/run.sh or on its own.
#
# Against `perfgo serve`'s identity model on loopback, for each protocol
# and target rate it runs one request-rate level (3 windows), in
# BENCH_RATE_REPEAT rounds over all of them, and reports the medians of
# the achieved rate (completed and sent), the schedule lag p99 (every
# round's too: one disturbed run should not decide) and the share of
# requests sent more than 1 ms late. Targets: achieved rate within 1% of
# the target while the server keeps up; p99 schedule lag under 1 ms at
# 10,000/s.
#
# Settings: BENCH_RATE_RATES (default "1000 10000"), BENCH_RATE_PROTOCOLS
# (default "grpc http"), BENCH_RATE_WINDOW_MS (default 2000),
# BENCH_RATE_REPEAT (default 3), BENCH_RATE_OUT (default: stdout only;
# run.sh appends to its results).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rates=${BENCH_RATE_RATES:-1000 10000}
protocols=${BENCH_RATE_PROTOCOLS:-grpc http}
window=${BENCH_RATE_WINDOW_MS:-2000}
repeat=${BENCH_RATE_REPEAT:-3}
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

# runs.tsv: proto rate round completed sent lag_p99_us late_pct (or "failed: ...")
for round in $(seq "$repeat"); do
	for proto in $protocols; do
		addr=$grpc_addr
		[ "$proto" = http ] && addr=$http_addr
		for rate in $rates; do
			"$tmp/perfgo" -m identity -i "$proto" -u "$addr" --shape INPUT0:16 --request-rate-range "$rate" \
				-p "$window" -r 3 -s 100 --json "$tmp/r.json" >"$tmp/out" 2>&1 || true
			line=$(jq -r '
				(.levels + .unreported_levels)[0].client as $c
				| ($c.schedule_lag.percentiles[] | select(.p == 99) | .value_us) as $lag
				| "\($c.throughput)\t\($c.send_rate)\t\($lag)\t\($c.late / $c.issued * 100)"' "$tmp/r.json" 2>/dev/null) ||
				line="failed: $(tail -1 "$tmp/out")"
			printf '%s\t%s\t%s\t%s\n' "$proto" "$rate" "$round" "$line" >>"$tmp/runs.tsv"
		done
	done
done

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

table="| protocol | target (req/s) | completed (req/s) | sent (req/s) | completed / target | schedule lag p99 (µs), median | every round | late > 1 ms | verdict |
|---|---:|---:|---:|---:|---:|---|---:|---|"
for proto in $protocols; do
	for rate in $rates; do
		runs=$(awk -F'\t' -v p="$proto" -v r="$rate" '$1 == p && $2 == r' "$tmp/runs.tsv")
		if grep -q failed <<<"$runs"; then
			table+=$'\n'"| $proto | $rate | $(grep -m1 -o 'failed: .*' <<<"$runs") | | | | | | |"
			continue
		fi
		completed=$(cut -f4 <<<"$runs" | median)
		sent=$(cut -f5 <<<"$runs" | median)
		lag=$(cut -f6 <<<"$runs" | median)
		late=$(cut -f7 <<<"$runs" | median)
		rounds=$(cut -f6 <<<"$runs" | awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $1 + 0.5 }')
		table+=$'\n'"$(awk -v p="$proto" -v r="$rate" -v c="$completed" -v s="$sent" -v l="$lag" -v k="$late" -v rs="$rounds" 'BEGIN {
			ratio = c / r
			verdict = (ratio >= 0.99 && ratio <= 1.01) ? "rate PASS" : "rate MISS"
			if (r >= 10000) verdict = verdict (l < 1000 ? ", lag PASS" : ", lag MISS")
			printf "| %s | %d | %d | %d | %.3f | %d | %s | %.2f%% | %s |", p, r, c, s, ratio, l + 0.5, rs, k, verdict
		}')"
	done
done
echo "$table"
if [ -n "$out" ]; then
	{
		echo
		echo "## Open loop: achieved rate and schedule lag"
		echo
		echo "Command: \`BENCH_RATE_RATES='$rates' BENCH_RATE_PROTOCOLS='$protocols' BENCH_RATE_WINDOW_MS=$window BENCH_RATE_REPEAT=$repeat ./bench/rate.sh\` (model identity, INPUT0 [1,16], 3 windows of $window ms, medians of $repeat rounds)"
		echo
		echo "$table"
	} >>"$out"
fi
