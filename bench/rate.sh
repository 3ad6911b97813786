#!/usr/bin/env bash
# bench/rate.sh: perfgo's open-loop accuracy (issue targets), run by
# bench/run.sh or on its own; bench/maxrate.sh runs it on a ladder of rates.
#
# Against `perfgo serve`'s identity model on loopback, for each protocol,
# target rate and pin setup it runs one request-rate level (3 windows), in
# BENCH_RATE_REPEAT rounds over all of them (the pin setups of a rate back
# to back, so that a disturbance hits both), and reports the medians of
# the rate sent, the rate the server counted and the rate completed, the
# schedule lag p99 (every round's too: one disturbed run should not
# decide) and the share of requests sent more than 1 ms late. A round
# passes when its completed rate is within 1% of the target and its p99
# schedule lag is under 1 ms; a rate passes when most rounds do. When the
# rate is missed, "behind" says who fell behind: the client (it sent
# less, or the server answered more than it took in), or the server (it
# counted less than was sent). Last, for each protocol and pin setup, the
# highest rate that passes, and the machine's floor: in each round and pin
# setup, bench/wakeup alone (no requests, the server idle) waking every
# 100 µs on perfgo's exact wait for 3 windows; its p99 is the least
# schedule lag the OS and Go runtime let any client reach here, so lag
# above it is perfgo's or the server's. Targets: achieved rate within 1% of the target
# while the server keeps up; p99 schedule lag under 1 ms at 10,000/s.
#
# Servers (BENCH_RATE_SERVER): "perfgo" (`perfgo serve`, the default) or
# "cpp" (bench/cpp's C++ gRPC server and libevent HTTP server with 2
# threads, built by `make -C bench/cpp`: run bench/cpp.sh once, which
# installs their Debian packages), servers that keep up at these rates, so
# that what remains is the client's and the machine's.
#
# Pin setups: "none" (the server and perfgo share every core, as a user
# runs them), "split" (the server on BENCH_RATE_SERVER_CPU, perfgo on
# BENCH_RATE_CLIENT_CPU, with taskset: each gets one core and GOMAXPROCS
# 1, so what remains of the lag is perfgo's own, not the server's).
#
# Settings: BENCH_RATE_RATES (default "1000 10000"), BENCH_RATE_PROTOCOLS
# (default "grpc http"), BENCH_RATE_PIN (default "none split"),
# BENCH_RATE_SERVER_CPU (default 1), BENCH_RATE_CLIENT_CPU (default 0),
# BENCH_RATE_WINDOW_MS (default 2000), BENCH_RATE_REPEAT (default 3),
# BENCH_RATE_FLOOR (default 1; 0 skips the machine's floor),
# BENCH_RATE_OUT (default: stdout only; run.sh appends to its results),
# BENCH_RATE_SERVER (default perfgo).
# GOGC, GODEBUG and the like pass through to perfgo (not to the server).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rates=${BENCH_RATE_RATES:-1000 10000}
protocols=${BENCH_RATE_PROTOCOLS:-grpc http}
pins=${BENCH_RATE_PIN:-none split}
server_cpu=${BENCH_RATE_SERVER_CPU:-1}
client_cpu=${BENCH_RATE_CLIENT_CPU:-0}
window=${BENCH_RATE_WINDOW_MS:-2000}
repeat=${BENCH_RATE_REPEAT:-3}
floor=${BENCH_RATE_FLOOR:-1}
out=${BENCH_RATE_OUT:-}
server=${BENCH_RATE_SERVER:-perfgo}

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init bench/rate.sh

for r in $rates; do [[ $r =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATE_RATES has '$r': use whole numbers of requests per second"; done
for p in $protocols; do [[ $p == grpc || $p == http ]] || die "BENCH_RATE_PROTOCOLS has '$p': use grpc and/or http"; done
for p in $pins; do [[ $p == none || $p == split ]] || die "BENCH_RATE_PIN has '$p': use none and/or split"; done
[[ $server == perfgo || $server == cpp ]] || die "BENCH_RATE_SERVER=$server: use perfgo or cpp"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATE_REPEAT=$repeat: use a whole number above 0"
[[ $window =~ ^[1-9][0-9]*$ ]] || die "BENCH_RATE_WINDOW_MS=$window: use a whole number of milliseconds"
command -v jq >/dev/null || die "jq is missing (Debian: apt-get install -y jq)"
if [[ " $pins " == *" split "* ]]; then
	command -v taskset >/dev/null || die "taskset is missing for BENCH_RATE_PIN=split (Debian: apt-get install -y util-linux), or use BENCH_RATE_PIN=none"
	[[ $server_cpu != "$client_cpu" ]] || die "BENCH_RATE_SERVER_CPU and BENCH_RATE_CLIENT_CPU are both $server_cpu: split needs two different CPUs"
	taskset -c "$server_cpu,$client_cpu" true 2>/dev/null ||
		die "CPUs $server_cpu and $client_cpu are not both usable here ($(nproc) online): set BENCH_RATE_SERVER_CPU/BENCH_RATE_CLIENT_CPU, or use BENCH_RATE_PIN=none"
fi

go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed"
go build -o "$tmp/wakeup" ./bench/wakeup || die "go build ./bench/wakeup failed"
if [[ $server == cpp ]]; then
	make -s -C bench/cpp >"$tmp/make.log" 2>&1 ||
		die "make -C bench/cpp failed (run ./bench/cpp.sh once: it installs the Debian packages the C++ servers need): $(tail -n 3 "$tmp/make.log")"
fi

# One server per pin setup, started under the setup's taskset so that its
# runtime sizes GOMAXPROCS to the cores it has; the idle one costs nothing.
declare -A http_addr grpc_addr run_prefix
for pin in $pins; do
	prefix=()
	run_prefix[$pin]=
	if [[ $pin == split ]]; then
		prefix=(taskset -c "$server_cpu")
		run_prefix[$pin]="taskset -c $client_cpu"
	fi
	if [[ $server == cpp ]]; then
		bench_cpp_serve "cpp-$pin" 2 "${prefix[@]}"
		http_addr[$pin]=$cpp_http grpc_addr[$pin]=$cpp_grpc
	else
		bench_serve "$tmp/perfgo" "$tmp/server-$pin.log" env -u GOGC -u GODEBUG -u GOMAXPROCS "${prefix[@]}"
		http_addr[$pin]=$serve_http grpc_addr[$pin]=$serve_grpc
	fi
done

# runs.tsv: proto rate pin round completed sent served lag_p99_us late_pct (or "failed: ...")
# floor.tsv: pin round p99_us late_pct
: >"$tmp/floor.tsv"
for round in $(seq "$repeat"); do
	if [[ $floor != 0 ]]; then
		for pin in $pins; do
			log "round $round/$repeat: machine floor, pin $pin ($(cut -d' ' -f1-3 /proc/loadavg))"
			# shellcheck disable=SC2086 # the prefix is words
			line=$(${run_prefix[$pin]} "$tmp/wakeup" -interval 100us -d "$((3 * window))ms") || die "bench/wakeup failed (pin $pin)"
			awk -v n="$pin" -v r="$round" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } printf "%s\t%s\t%s\t%s\n", n, r, v["p99_us"], v["late_pct"] }' <<<"$line" >>"$tmp/floor.tsv"
		done
	fi
	for proto in $protocols; do
		for rate in $rates; do
			for pin in $pins; do
				addr=${grpc_addr[$pin]}
				[[ $proto == http ]] && addr=${http_addr[$pin]}
				log "round $round/$repeat: $proto $rate/s pin $pin ($(cut -d' ' -f1-3 /proc/loadavg))"
				# shellcheck disable=SC2086 # the prefix is words
				${run_prefix[$pin]} "$tmp/perfgo" -m identity -i "$proto" -u "$addr" --shape INPUT0:16 --request-rate-range "$rate" \
					-p "$window" -r 3 -s 100 --json "$tmp/r.json" >"$tmp/out" 2>&1 || true
				# served: the server's own count over the measured windows, per second.
				line=$(jq -r '
					(.levels + .unreported_levels)[0] as $l | $l.client as $c
				| ($c.schedule_lag.percentiles[] | select(.p == 99) | .value_us) as $lag
				| (if $l.server then $l.server.execution_count / $c.duration_us * 1e6 else "nan" end) as $served
				| "\($c.throughput)\t\($c.send_rate)\t\($served)\t\($lag)\t\($c.late / $c.issued * 100)"' "$tmp/r.json" 2>/dev/null) ||
					line="failed: $(tail -1 "$tmp/out")"
				printf '%s\t%s\t%s\t%s\t%s\n' "$proto" "$rate" "$pin" "$round" "$line" >>"$tmp/runs.tsv"
			done
		done
	done
done


table="| protocol | pin | target (req/s) | sent (req/s) | server counted (req/s) | completed (req/s) | completed / target | schedule lag p99 (µs), median | every round | late > 1 ms | rounds passed | verdict |
|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"
best="| protocol | pin | highest rate passing (req/s) | rates missed below it |
|---|---|---:|---|"
for proto in $protocols; do
	for pin in $pins; do
		highest= missed=
		for rate in $rates; do
			runs=$(awk -F'\t' -v p="$proto" -v r="$rate" -v n="$pin" '$1 == p && $2 == r && $3 == n' "$tmp/runs.tsv")
			if grep -q failed <<<"$runs"; then
				table+=$'\n'"| $proto | $pin | $rate | $(grep -m1 -o 'failed: .*' <<<"$runs") | | | | | | | | |"
				missed+=" $rate"
				continue
			fi
			completed=$(cut -f5 <<<"$runs" | bench_median)
			sent=$(cut -f6 <<<"$runs" | bench_median)
			served=$(cut -f7 <<<"$runs" | bench_median)
			lag=$(cut -f8 <<<"$runs" | bench_median)
			late=$(cut -f9 <<<"$runs" | bench_median)
			rounds=$(cut -f8 <<<"$runs" | awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $1 + 0.5 }')
			# A round passes on its own rate and lag; the rate on most rounds.
			passed=$(awk -F'\t' -v r="$rate" '{ q = $5 / r; if (q >= 0.99 && q <= 1.01 && $8 < 1000) n++ } END { print n + 0 }' <<<"$runs")
			row=$(awk -v p="$proto" -v n="$pin" -v r="$rate" -v c="$completed" -v s="$sent" -v v="$served" -v l="$lag" -v k="$late" \
				-v rs="$rounds" -v ok="$passed" -v of="$repeat" 'BEGIN {
				ratio = c / r
				verdict = (ratio >= 0.99 && ratio <= 1.01) ? "rate PASS" : "rate MISS"
				verdict = verdict (l < 1000 ? ", lag PASS" : ", lag MISS")
				if (s / r < 0.99) verdict = verdict ", behind: client (sent too few)"
				else if (v != "nan" && v / r < 0.99) verdict = verdict ", behind: server (counted less than sent)"
				else if (ratio < 0.99) verdict = verdict ", behind: client (responses read late)"
				vs = (v == "nan") ? "n/a" : sprintf("%d", v + 0.5)
				printf "| %s | %s | %d | %d | %s | %d | %.3f | %d | %s | %.2f%% | %d/%d | %s |", p, n, r, s, vs, c, ratio, l + 0.5, rs, k, ok, of, verdict
			}')
			table+=$'\n'"$row"
			if ((passed * 2 > repeat)); then
				highest=$rate
			else
				missed+=" $rate"
			fi
		done
		below=$(for m in $missed; do ((m < ${highest:-0})) && printf '%s ' "$m"; done || true)
		best+=$'\n'"| $proto | $pin | ${highest:-none} | ${below:--} |"
	done
done
floors="| pin | machine floor: wakeup lag p99 (µs), median | every round | late > 1 ms |
|---|---:|---|---:|"
for pin in $pins; do
	runs=$(awk -F'\t' -v n="$pin" '$1 == n' "$tmp/floor.tsv")
	[[ -n $runs ]] || continue
	floors+=$'\n'"| $pin | $(cut -f3 <<<"$runs" | bench_median | awk '{ printf "%d", $1 + 0.5 }') | $(cut -f3 <<<"$runs" | awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $1 + 0.5 }') | $(cut -f4 <<<"$runs" | bench_median)% |"
done
echo "$table"
echo
echo "$best"
[[ $floor == 0 ]] || printf '\n%s\n' "$floors"
server_desc="perfgo serve"
[[ $server == cpp ]] && server_desc="bench/cpp's C++ gRPC server and libevent HTTP server (2 threads)"
cmdline="BENCH_RATE_SERVER=$server BENCH_RATE_RATES='$rates' BENCH_RATE_PROTOCOLS='$protocols' BENCH_RATE_PIN='$pins' BENCH_RATE_WINDOW_MS=$window BENCH_RATE_REPEAT=$repeat ./bench/rate.sh"
if [ -n "$out" ]; then
	{
		echo
		echo "## Open loop: achieved rate and schedule lag"
		echo
		echo "Command: \`$cmdline\` (server: $server_desc; model identity, INPUT0 [1,16], 3 windows of $window ms, medians of $repeat rounds; split: server on CPU $server_cpu, perfgo on CPU $client_cpu)"
		echo
		echo "$table"
		echo
		echo "$best"
		[[ $floor == 0 ]] || printf '\n%s\n' "$floors"
	} >>"$out"
fi
