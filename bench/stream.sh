#!/usr/bin/env bash
# bench/stream.sh: perfgo on streams (issue 10), run by bench/run.sh or on
# its own. Against `perfgo serve`'s generate model on loopback (a decoupled
# text model: one token per response), for gRPC ModelStreamInfer and HTTP
# generate_stream, in BENCH_STREAM_REPEAT rounds, medians reported with
# every round:
#
# 1. Accuracy: 16 tokens, the first 20 ms after the request arrives, then
#    one every 5 ms (concurrency 4, 2 s windows). Target: perfgo's first-
#    response and between-response p50 within 5% of 20 and 5 ms.
# 2. Client CPU per response: 64 tokens, 10 µs apart (concurrency 8, 3 s
#    windows): the user+sys CPU of the perfgo process over the responses
#    it received (requests completed x 64).
# 3. Highest response rate with p99 schedule lag under 1 ms: open loop,
#    16 tokens of 0.5 ms after 1 ms, at BENCH_STREAM_RATES requests/s
#    (x16 responses/s).
#
# Settings: BENCH_STREAM_PROTOCOLS (default "grpc http"),
# BENCH_STREAM_RATES (default "250 500 1000 2000"), BENCH_STREAM_REPEAT
# (default 3), BENCH_STREAM_OUT (default: stdout only; run.sh appends to
# its results).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
protocols=${BENCH_STREAM_PROTOCOLS:-grpc http}
rates=${BENCH_STREAM_RATES:-250 500 1000 2000}
repeat=${BENCH_STREAM_REPEAT:-3}
out=${BENCH_STREAM_OUT:-}

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init bench/stream.sh
command -v jq >/dev/null || die "jq is missing (Debian: apt-get install -y jq)"

go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed"

# serve NAME FLAGS...: starts a server, sets NAME_http and NAME_grpc.
serve() {
	local name=$1
	shift
	bench_serve "$tmp/perfgo" "$tmp/$name.log" -- "$@"
	printf -v "${name}_http" '%s' "$serve_http"
	printf -v "${name}_grpc" '%s' "$serve_grpc"
}
serve truth --generate-first-ms 20 --generate-gap-ms 5 --generate-tokens 16
serve fast --generate-first-ms 0.01 --generate-gap-ms 0.01 --generate-tokens 64
serve paced --generate-first-ms 1 --generate-gap-ms 0.5 --generate-tokens 16

addr() { local v="${1}_${2}"; echo "${!v}"; }
p50() { jq -r "(.levels + .unreported_levels)[0].client.stream.$1.percentiles[] | select(.p == 50) | .value_us" "$tmp/r.json"; }
rounds() { awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }'; }

# runs.tsv: kind proto x round value...
for round in $(seq "$repeat"); do
	for proto in $protocols; do
		# 1. accuracy
		if "$tmp/perfgo" -m generate -i "$proto" -u "$(addr truth "$proto")" --string-data prompt --concurrency-range 4 \
			-p 2000 -r 3 -s 1000 --json "$tmp/r.json" >"$tmp/out" 2>&1; then
			printf 'acc\t%s\t-\t%s\t%s\t%s\n' "$proto" "$round" "$(p50 first)" "$(p50 between)" >>"$tmp/runs.tsv"
		else
			printf 'acc\t%s\t-\t%s\tfailed: %s\n' "$proto" "$round" "$(tail -1 "$tmp/out")" >>"$tmp/runs.tsv"
		fi
		# 2. client CPU per response
		/usr/bin/time -f '%U %S' -o "$tmp/time" "$tmp/perfgo" -m generate -i "$proto" -u "$(addr fast "$proto")" --string-data prompt \
			--concurrency-range 8 -p 3000 -r 3 -s 1000 --json "$tmp/r.json" >"$tmp/out" 2>&1 || true
		requests=$(jq '[.levels[].total.requests, .unreported_levels[].total.requests, .drained.requests] | add' "$tmp/r.json")
		rps=$(jq '(.levels + .unreported_levels)[0].client.stream.response_throughput' "$tmp/r.json")
		awk -v p="$proto" -v r="$round" -v n="$requests" -v rps="$rps" '{ printf "cpu\t%s\t-\t%s\t%.3f\t%d\n", p, r, ($1 + $2) * 1e6 / (n * 64), rps }' "$tmp/time" >>"$tmp/runs.tsv"
		# 3. response rate against schedule lag
		for rate in $rates; do
			"$tmp/perfgo" -m generate -i "$proto" -u "$(addr paced "$proto")" --string-data prompt --request-rate-range "$rate" \
				-p 2000 -r 3 -s 100 --json "$tmp/r.json" >"$tmp/out" 2>&1 || true
			line=$(jq -r '(.levels + .unreported_levels)[0].client as $c
				| ($c.schedule_lag.percentiles[] | select(.p == 99) | .value_us) as $lag
				| "\($c.stream.response_throughput)\t\($lag)"' "$tmp/r.json" 2>/dev/null) || line="failed: $(tail -1 "$tmp/out")"
			printf 'rate\t%s\t%s\t%s\t%s\n' "$proto" "$rate" "$round" "$line" >>"$tmp/runs.tsv"
		done
	done
done

sel() { awk -F'\t' -v k="$1" -v p="$2" -v x="$3" '$1 == k && $2 == p && $3 == x' "$tmp/runs.tsv"; }
acc="| protocol | first response p50 (µs), median | every round | between responses p50 (µs), median | every round | verdict (5% of 20,000 and 5,000) |
|---|---:|---|---:|---|---|"
cpu="| protocol | client CPU per response (µs), median | every round | responses/s |
|---|---:|---|---:|"
lag="| protocol | target (req/s) | responses/s, median | schedule lag p99 (µs), median | every round | verdict (< 1 ms) |
|---|---:|---:|---:|---|---|"
for proto in $protocols; do
	runs=$(sel acc "$proto" -)
	if grep -q failed <<<"$runs"; then
		acc+=$'\n'"| $proto | $(grep -m1 -o 'failed: .*' <<<"$runs") | | | | |"
	else
		f=$(cut -f5 <<<"$runs" | bench_median)
		b=$(cut -f6 <<<"$runs" | bench_median)
		acc+=$'\n'"$(awk -v p="$proto" -v f="$f" -v b="$b" -v fr="$(cut -f5 <<<"$runs" | rounds)" -v br="$(cut -f6 <<<"$runs" | rounds)" 'BEGIN {
			ok = (f >= 19000 && f <= 21000 && b >= 4750 && b <= 5250) ? "PASS" : "MISS"
			printf "| %s | %d | %s | %d | %s | %s (%+.1f%%, %+.1f%%) |", p, f + 0.5, fr, b + 0.5, br, ok, (f / 20000 - 1) * 100, (b / 5000 - 1) * 100 }')"
	fi
	runs=$(sel cpu "$proto" -)
	cpu+=$'\n'"| $proto | $(cut -f5 <<<"$runs" | bench_median) | $(cut -f5 <<<"$runs" | rounds) | $(cut -f6 <<<"$runs" | bench_median | awk '{ printf "%d", $1 }') |"
	for rate in $rates; do
		runs=$(sel rate "$proto" "$rate")
		if grep -q failed <<<"$runs"; then
			lag+=$'\n'"| $proto | $rate | $(grep -m1 -o 'failed: .*' <<<"$runs") | | | |"
			continue
		fi
		r=$(cut -f5 <<<"$runs" | bench_median)
		l=$(cut -f6 <<<"$runs" | bench_median)
		lag+=$'\n'"$(awk -v p="$proto" -v t="$rate" -v r="$r" -v l="$l" -v lr="$(cut -f6 <<<"$runs" | awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $1 + 0.5 }')" 'BEGIN {
			printf "| %s | %d | %d | %d | %s | %s |", p, t, r, l + 0.5, lr, (l < 1000 ? "PASS" : "MISS") }')"
	done
done
report="### Accuracy: generate model, 20 ms to first response, 5 ms between (concurrency 4)

$acc

### Client CPU per response: 64 tokens 10 µs apart (concurrency 8)

$cpu

### Response rate and schedule lag: open loop, 16 tokens per request

$lag"
echo "$report"
if [ -n "$out" ]; then
	{
		echo
		echo "## Streams (generate model)"
		echo
		echo "Command: \`BENCH_STREAM_PROTOCOLS='$protocols' BENCH_STREAM_RATES='$rates' BENCH_STREAM_REPEAT=$repeat ./bench/stream.sh\` (medians of $repeat rounds)"
		echo
		echo "$report"
	} >>"$out"
fi
