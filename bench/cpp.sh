#!/usr/bin/env bash
# bench/cpp.sh: perfgo against C++ servers, beside C and C++ ceilings.
#
# Users run Triton: C++ on gRPC's C core, and an HTTP front end on libevent,
# not `perfgo serve`. This builds bench/cpp (a C++ KServe v2 gRPC server,
# a C++ KServe v2 HTTP/1.1 server on libevent's evhttp, both with the model
# "identity", and a bare C++ gRPC client loop), starts both servers on
# loopback and runs, in interleaved rounds, for the same duration and
# concurrency each:
#   gRPC  perfgo    the CLI, one level of 3 windows (identity, --shape INPUT0:16)
#         bareloop  perfgo's client and request with no measurement (Go ceiling)
#         cpp loop  gRPC's synchronous C++ client, same request (C++ ceiling)
#   HTTP  perfgo    the same over HTTP, perfgo's default transport
#         bareloop  the same over HTTP
#         wrk       a Lua script POSTing the binary-tensor body (bench/wrk.sh; C ceiling)
# wrk's own latency average is corrected for coordinated omission (it adds
# samples for every response slower than the run's mean interval), so it is
# not a plain mean: wrk's average latency here is concurrency / throughput
# (Little's law, exact for a closed loop), and its own figure is shown apart.
# It prints a markdown table of medians and every round: throughput, average
# latency (none for bareloop) and client CPU per request (user+sys CPU of
# the tool's process, by GNU time, / requests the server counted while it
# ran), and perfgo's ratios to the C++ loop (gRPC) and to wrk (HTTP) against
# issue 13's targets: at concurrency 1 and 8 throughput >= 0.9x and average
# latency <= 1.1x; over HTTP, CPU per request <= 1.2x wrk's at every level.
#
# Settings (environment variables):
#   BENCH_CPP_REPEAT        rounds (default 5)
#   BENCH_CPP_CONCURRENCY   concurrency levels (default "1 8 64")
#   BENCH_CPP_PROTOCOLS     protocols (default "grpc http")
#   BENCH_CPP_SECONDS       length of every run (default 6; perfgo: 3 windows of a third)
#   BENCH_CPP_HTTP_THREADS  event-loop threads of the C++ HTTP server (default 2)
#   BENCH_CPP_OUT           also append the report to this file (default: stdout only;
#                           bench/run.sh appends to its results)
#
# Needs g++, make, pkg-config, wrk, jq, curl, GNU time and Debian's libgrpc++-dev,
# protobuf-compiler-grpc, libprotobuf-dev, protobuf-compiler, libevent-dev,
# nlohmann-json3-dev (installed when run as root). GOMAXPROCS and
# PERFGO_HTTP_TRANSPORT are unset; PERFGO_GRPC_TRANSPORT is kept, so that
# PERFGO_GRPC_TRANSPORT=grpc-go ./bench/cpp.sh measures perfgo and bareloop on
# grpc-go's transport instead of perfgo's own (h2). Every process started here is stopped by
# its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset GOMAXPROCS PERFGO_HTTP_TRANSPORT
# shellcheck source=bench/wrk.sh
source bench/wrk.sh

repeat=${BENCH_CPP_REPEAT:-5}
concurrency=${BENCH_CPP_CONCURRENCY:-1 8 64}
protocols=${BENCH_CPP_PROTOCOLS:-grpc http}
secs=${BENCH_CPP_SECONDS:-6}
http_threads=${BENCH_CPP_HTTP_THREADS:-2}
out=${BENCH_CPP_OUT:-}
cmdline="BENCH_CPP_REPEAT=$repeat BENCH_CPP_CONCURRENCY='$concurrency' BENCH_CPP_PROTOCOLS='$protocols' BENCH_CPP_SECONDS=$secs BENCH_CPP_HTTP_THREADS=$http_threads ./bench/cpp.sh"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init bench/cpp

positive_int BENCH_CPP_REPEAT "$repeat"
positive_int BENCH_CPP_SECONDS "$secs"
positive_int BENCH_CPP_HTTP_THREADS "$http_threads"
for c in $concurrency; do positive_int BENCH_CPP_CONCURRENCY "$c"; done
for p in $protocols; do [[ $p == grpc || $p == http ]] || die "BENCH_CPP_PROTOCOLS has '$p': use grpc and/or http"; done
[[ -n $protocols ]] || die "BENCH_CPP_PROTOCOLS is empty: use grpc and/or http"
(( secs >= 3 )) || die "BENCH_CPP_SECONDS=$secs: use 3 or more (perfgo measures 3 windows of a third each)"

# --- what it needs ---------------------------------------------------------------
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/dl/)"
packages=(g++ make pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
	libevent-dev nlohmann-json3-dev wrk jq curl time coreutils)
if ! command -v g++ >/dev/null || ! command -v protoc >/dev/null || ! command -v grpc_cpp_plugin >/dev/null ||
	! pkg-config --exists grpc++ protobuf libevent nlohmann_json 2>/dev/null || ! command -v wrk >/dev/null ||
	! command -v jq >/dev/null || ! command -v curl >/dev/null || [[ ! -x /usr/bin/time ]] || ! command -v timeout >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing ${packages[*]} (apt-get)"
		apt-get install -y -q "${packages[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${packages[@]}" >/dev/null; } ||
			die "could not install the C++ bench's packages: apt-get install -y ${packages[*]}"
	else
		die "the C++ bench's toolchain is missing: install it (Debian: sudo apt-get install -y ${packages[*]})"
	fi
fi

log "building bench/cpp (the first build takes a few minutes), perfgo and bareloop"
make -s -C bench/cpp >"$tmp/make.log" 2>&1 || die "make -C bench/cpp failed: $(tail -n 5 "$tmp/make.log")"
go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed"
go build -o "$tmp/bareloop" ./bench/bareloop || die "go build ./bench/bareloop failed"

bench_cpp_serve cpp "$http_threads"
grpc_pid=$cpp_grpc_pid http_pid=$cpp_http_pid grpc_addr=$cpp_grpc http_addr=$cpp_http
log "C++ servers: gRPC (pid $grpc_pid) on $grpc_addr, HTTP (pid $http_pid, $http_threads threads) on $http_addr"

# served PROTO: how many identity requests that protocol's server has answered.
served() {
	local n
	if [[ $1 == grpc ]]; then
		n=$(bench/cpp/build/loop "$grpc_addr" served 2>&1) || die "cannot read the C++ gRPC server's statistics: $n"
	else
		n=$(curl -sf "http://$http_addr/v2/models/identity/stats" | jq -r '.model_stats[0].inference_stats.success.count') ||
			die "cannot read the C++ HTTP server's statistics (did it die?): $(tail -n 3 "$tmp/http.log")"
	fi
	[[ $n =~ ^[0-9]+$ ]] || die "the C++ $1 server's statistics gave '$n', not a count"
	echo "$n"
}

# wrk's request: identity's INPUT0, FP32 [1,16] (zeros: identity's cost does
# not depend on the values), OUTPUT0 asked in binary, as perfgo sends it.
head -c 64 /dev/zero >"$tmp/in0.bin"
http_header='{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"FP32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}'
wrk_post_script "$tmp/post.lua" "$tmp/post.body" "$http_header" "$tmp/in0.bin"
if [[ " $protocols " == *" http "* ]]; then
	wrk_post_try "http://$http_addr/v2/models/identity/infer" "$tmp/post.body" "$http_header" ||
		die "the C++ HTTP server rejected the request body wrk would send"
fi

rows=$tmp/rows.tsv # round proto tool conc throughput latency_us cpu_us wrk_own_latency_us
: >"$rows"
limit=$(( 4 * secs + 60 )) # generous: a run is stopped only if it hangs
# run PROTO TOOL CONC CMD...: runs one tool under GNU time (bounded by
# timeout; in the background, so the trap can stop it) and appends its
# throughput, average latency ("" when it has none) and CPU per request.
run() {
	local proto=$1 tool=$2 conc=$3 rc=0 tput lat= own= before after user sys cpu
	shift 3
	rm -f "$tmp/perfgo.json" "$tmp/time"
	before=$(served "$proto")
	timeout -k 10 "$limit" /usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" 3>&- &
	tool_pid=$!
	wait "$tool_pid" || rc=$?
	tool_pid=
	after=$(served "$proto")
	(( rc == 0 )) || die "$tool over $proto at concurrency $conc failed (exit $rc): $(tail -n 3 "$tmp/err" "$tmp/out")"
	case $tool in
	perfgo) tput=$(jq -r '.levels[0].client.throughput' "$tmp/perfgo.json")
		lat=$(jq -r '.levels[0].client.latency.mean_us' "$tmp/perfgo.json") ;;
	bareloop) tput=$(sed -n 's/.*throughput=\([0-9.]*\).*/\1/p' "$tmp/out") ;;
	"cpp loop") read -r tput lat < <(awk '{ print $6, $8 }' "$tmp/out") ;;
	wrk) grep -q 'Non-2xx' "$tmp/out" && die "wrk at concurrency $conc got non-2xx answers: $(cat "$tmp/out")"
		tput=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/out")
		own=$(wrk_mean_latency_us "$tmp/out") ;;
	esac
	[[ $tput =~ ^[0-9.]+$ ]] && awk -v t="$tput" 'BEGIN { exit !(t > 0) }' ||
		die "$tool over $proto at concurrency $conc: no throughput in its output: $(head -c 300 "$tmp/out")"
	[[ $tool == wrk ]] && lat=$(awk -v c="$conc" -v t="$tput" 'BEGIN { printf "%.1f", c / t * 1e6 }')
	read -r user sys < <(grep -E '^[0-9.]+ [0-9.]+$' "$tmp/time" | tail -n 1) || die "$tool: no CPU times from GNU time: $(cat "$tmp/time")"
	(( after > before )) || die "$tool over $proto at concurrency $conc: the server counted no requests"
	cpu=$(awk -v u="$user" -v s="$sys" -v n=$(( after - before )) 'BEGIN { printf "%.2f", (u + s) * 1e6 / n }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$proto" "$tool" "$conc" "$tput" "$lat" "$cpu" "$own" >>"$rows"
	log "$(printf 'round %s  %-4s %-8s c=%-3s %10.0f req/s  %7s µs/req CPU  %s' "$round" "$proto" "$tool" "$conc" "$tput" "$cpu" "${lat:+avg latency $lat µs}")"
}

window_ms=$(( secs * 1000 / 3 ))
levels=$(wc -w <<<"$concurrency") nprotos=$(wc -w <<<"$protocols")
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "$repeat rounds of $nprotos protocols x $levels levels x 3 tools, ${secs}s each: about $(( repeat * nprotos * levels * 3 * (secs + 1) / 60 + 1 )) minutes (load average $loadavg_start)"
for round in $(seq "$repeat"); do
	for conc in $concurrency; do
		for proto in $protocols; do
			if [[ $proto == grpc ]]; then
				run grpc perfgo "$conc" "$tmp/perfgo" -m identity -i grpc -u "$grpc_addr" --shape INPUT0:16 --concurrency-range "$conc" \
					-p "$window_ms" -r 3 -s 1000 --json "$tmp/perfgo.json"
				run grpc bareloop "$conc" "$tmp/bareloop" -i grpc -u "$grpc_addr" -m identity -shape INPUT0:16 -c "$conc" -d "${secs}s"
				run grpc "cpp loop" "$conc" bench/cpp/build/loop "$grpc_addr" "$conc" "$secs"
			else
				run http perfgo "$conc" "$tmp/perfgo" -m identity -i http -u "$http_addr" --shape INPUT0:16 --concurrency-range "$conc" \
					-p "$window_ms" -r 3 -s 1000 --json "$tmp/perfgo.json"
				run http bareloop "$conc" "$tmp/bareloop" -i http -u "$http_addr" -m identity -shape INPUT0:16 -c "$conc" -d "${secs}s"
				run http wrk "$conc" wrk -t $(( conc < 2 ? conc : 2 )) -c "$conc" -d "${secs}s" -s "$tmp/post.lua" \
					"http://$http_addr/v2/models/identity/infer"
			fi
		done
	done
done
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)

# median PROTO TOOL CONC FIELD (5 throughput, 6 latency, 7 CPU, 8 wrk's own latency): empty when the tool has none.
median() {
	local m
	m=$(awk -F'\t' -v p="$1" -v t="$2" -v c="$3" -v f="$4" '$2 == p && $3 == t && $4 == c && $f != "" { print $f }' "$rows" | bench_median)
	[[ $m == nan ]] || echo "$m"
}
# verdict A B OP LIMIT: "ratio× (OP LIMIT PASS|MISS)", or the bare ratio when LIMIT is "".
verdict() {
	awk -v a="$1" -v b="$2" -v op="$3" -v lim="$4" 'BEGIN {
		if (a <= 0 || b <= 0) { print "n/a"; exit }
		r = a / b
		if (lim == "") { printf "%.2f×", r; exit }
		ok = (op == ">=") ? r >= lim : r <= lim
		printf "%.2f× (%s%s %s)", r, op == ">=" ? "≥" : "≤", lim, ok ? "PASS" : "MISS" }'
}
num() { [[ -n $1 ]] && printf "%.$2f" "$1" || echo "—"; }

report=$tmp/report.md
{
	echo "## perfgo against C++ servers (bench/cpp.sh)"
	echo
	echo "Command: \`$cmdline\`"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, load average $loadavg_start at the start, $loadavg_end at the end;"
	echo "on 127.0.0.1, model identity, FP32 [1,16]: bench/cpp/build/server (gRPC C++ $(pkg-config --modversion grpc++), synchronous API) and"
	echo "bench/cpp/build/http_server (libevent $(pkg-config --modversion libevent) evhttp, $http_threads event-loop threads). $repeat rounds of ${secs}s per tool and level,"
	echo "interleaved; medians. perfgo: \`-p $window_ms -r 3 -s 1000\`, HTTP over its default transport. Client CPU per request = user+sys CPU"
	echo "of the tool's process (GNU time) / requests the server counted while it ran. Targets (issue 13): perfgo / reference"
	echo "throughput ≥ 0.9 and average latency ≤ 1.1 at concurrency 1 and 8 (the C++ loop over gRPC, wrk over HTTP), HTTP CPU per"
	echo "request ≤ 1.2× wrk's at every level; gRPC's CPU target is against ghz (bench/run.sh), the C++ loop's ratio is shown for reference."
	echo "wrk's average latency is concurrency / throughput: its own figure is corrected for coordinated omission (shown apart), not a plain mean."
	echo
	echo "| protocol | concurrency | tool | throughput (req/s) | avg latency (µs) | client CPU (µs/req) | perfgo / reference |"
	echo "|---|---:|---|---:|---:|---:|---|"
	for proto in $protocols; do
		if [[ $proto == grpc ]]; then tools=(perfgo bareloop "cpp loop") ref="cpp loop" cpulim=; else tools=(perfgo bareloop wrk) ref=wrk cpulim=1.2; fi
		for conc in $concurrency; do
			rt=$(median "$proto" "$ref" "$conc" 5) rl=$(median "$proto" "$ref" "$conc" 6) rc=$(median "$proto" "$ref" "$conc" 7)
			tlim= llim=
			[[ $conc == 1 || $conc == 8 ]] && tlim=0.9 llim=1.1
			for tool in "${tools[@]}"; do
				t=$(median "$proto" "$tool" "$conc" 5) l=$(median "$proto" "$tool" "$conc" 6) c=$(median "$proto" "$tool" "$conc" 7)
				note=
				[[ $tool == perfgo ]] && note="vs $ref: throughput $(verdict "$t" "$rt" ">=" "$tlim"), latency $(verdict "$l" "$rl" "<=" "$llim"), CPU $(verdict "$c" "$rc" "<=" "$cpulim")"
				[[ $tool == bareloop ]] && note="(bareloop / $ref throughput $(verdict "$t" "$rt" ">=" ""))"
				[[ $tool == wrk ]] && note="(wrk's own, corrected average latency: $(num "$(median "$proto" wrk "$conc" 8)" 1) µs)"
				echo "| $proto | $conc | $tool | $(num "$t" 0) | $(num "$l" 1) | $(num "$c" 1) | $note |"
			done
		done
	done
	echo
	echo "Every round:"
	echo
	echo "| round | protocol | concurrency | tool | throughput (req/s) | avg latency (µs) | client CPU (µs/req) | wrk's own avg latency (µs) |"
	echo "|---:|---|---:|---|---:|---:|---:|---:|"
	awk -F'\t' 'function num(v, d) { return v == "" ? "—" : sprintf("%." d "f", v) }
		{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $4, $3, num($5, 0), num($6, 1), num($7, 1), num($8, 1) }' "$rows"
} >"$report"
cat "$report"
if [[ -n $out ]]; then
	{ echo; cat "$report"; } >>"$out"
fi
