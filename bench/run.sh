#!/usr/bin/env bash
# bench/run.sh: perfgo's benchmark harness (`make bench`).
#
# On loopback, against one `perfgo serve` and its "simple" model, for the
# same duration and concurrency each, it measures side by side:
#   perfgo       the CLI, one level (--concurrency-range C), 3 windows
#   perfgo/data  the same from a perf_analyzer data file of 16 steps, every answer
#                validated (HTTP: the default transport)
#   bareloop     the same client and request with no measurement (the ceiling)
#   ghz          gRPC, in its fast mode (templates off)
#   wrk          HTTP, a Lua script POSTing the binary-tensor body
# and reports throughput (as each tool reports it) and client CPU per
# request: user+sys CPU of the tool's process (GNU time) divided by the
# requests the server counted while it ran. Then perfgo's peak RSS for a
# short and a 4x longer run, and the heap allocations per request of
# perfgo's worker path (go test -bench WorkerPath ./bench/).
# Then the open-loop accuracy (bench/rate.sh), streams (bench/stream.sh) and
# perfgo against C++ servers (bench/cpp.sh). Results go to bench/results.md
# and stdout.
#
# Settings (environment variables):
#   BENCH_SECONDS          length of every load run (default 6; perfgo: 3 windows of a third)
#   BENCH_REPEAT           rounds over all load runs; the report shows medians (default 2)
#   BENCH_CONCURRENCY      concurrency levels (default "1 8 64")
#   BENCH_PROTOCOLS        protocols (default "grpc http")
#   BENCH_HTTP_TRANSPORTS  HTTP transports of perfgo and bareloop (default "fasthttp nethttp";
#                          perfgo's default is fasthttp, picked with $PERFGO_HTTP_TRANSPORT)
#   BENCH_RSS_SECONDS      the short RSS run (default 3; the long one lasts 4x as long)
#   BENCH_RSS_CONCURRENCY  concurrency of the RSS runs (default 64)
#   BENCH_ALLOC_REQUESTS   requests per allocation benchmark (default 200000)
#   BENCH_OUT              results file (default bench/results.md)
#   BENCH_STRICT=1         exit 1 when a target is missed (failures always exit 1)
#   GHZ                    ghz binary (default $(go env GOPATH)/bin/ghz; installed when missing)
#   BENCH_DEBUG=1          log each run's raw CPU accounting (busy, server, tool)
#   BENCH_CPP=0            skip bench/cpp.sh (it builds C++ servers from Debian packages and
#                          takes about 10 minutes; its own settings are BENCH_CPP_*)
#
# The server and the tools share the machine's cores: nothing is pinned and
# GOMAXPROCS is unset for every process. Every process started here is
# stopped by its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset GOMAXPROCS
# shellcheck source=bench/wrk.sh
source bench/wrk.sh

secs=${BENCH_SECONDS:-6}
repeat=${BENCH_REPEAT:-2}
concurrency=${BENCH_CONCURRENCY:-1 8 64}
protocols=${BENCH_PROTOCOLS:-grpc http}
transports=${BENCH_HTTP_TRANSPORTS:-fasthttp nethttp}
rss_secs=${BENCH_RSS_SECONDS:-3}
rss_conc=${BENCH_RSS_CONCURRENCY:-64}
alloc_requests=${BENCH_ALLOC_REQUESTS:-200000}
out=${BENCH_OUT:-bench/results.md}
strict=${BENCH_STRICT:-0}
ghz_version=v0.121.0
cmdline="BENCH_SECONDS=$secs BENCH_REPEAT=$repeat BENCH_CONCURRENCY='$concurrency' BENCH_PROTOCOLS='$protocols' BENCH_HTTP_TRANSPORTS='$transports' BENCH_RSS_SECONDS=$rss_secs BENCH_RSS_CONCURRENCY=$rss_conc BENCH_ALLOC_REQUESTS=$alloc_requests ./bench/run.sh"

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init bench

positive_int BENCH_SECONDS "$secs"
positive_int BENCH_REPEAT "$repeat"
positive_int BENCH_RSS_SECONDS "$rss_secs"
positive_int BENCH_RSS_CONCURRENCY "$rss_conc"
positive_int BENCH_ALLOC_REQUESTS "$alloc_requests"
for c in $concurrency; do positive_int BENCH_CONCURRENCY "$c"; done
for p in $protocols; do [[ $p == grpc || $p == http ]] || die "BENCH_PROTOCOLS has '$p': use grpc and/or http"; done
for t in $transports; do [[ $t == fasthttp || $t == nethttp ]] || die "BENCH_HTTP_TRANSPORTS has '$t': use fasthttp and/or nethttp"; done
(( secs >= 3 )) || die "BENCH_SECONDS=$secs: use 3 or more (perfgo measures 3 windows of a third each)"

# --- what the harness needs ---------------------------------------------------
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/dl/)"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v timeout >/dev/null || missing+=(coreutils)
if (( ${#missing[@]} )); then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing ${missing[*]} (apt-get)"
		apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; } ||
			die "could not install ${missing[*]}: install them (Debian: apt-get install -y ${missing[*]})"
	else
		die "missing ${missing[*]}: install them (Debian: sudo apt-get install -y ${missing[*]})"
	fi
fi
ghz=${GHZ:-$(go env GOPATH)/bin/ghz}
if [[ " $protocols " == *" grpc "* && ! -x $ghz ]]; then
	log "installing ghz $ghz_version (go install)"
	GOBIN=$(dirname "$ghz") go install "github.com/bojand/ghz/cmd/ghz@$ghz_version" ||
		die "could not install ghz: go install github.com/bojand/ghz/cmd/ghz@$ghz_version (or set GHZ=/path/to/ghz)"
fi

log "building perfgo and bareloop"
go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed (if cmd/perfgo is being edited, retry in a few minutes)"
go build -o "$tmp/bareloop" ./bench/bareloop

bench_serve "$tmp/perfgo" "$tmp/server.log"
server_pid=$serve_pid http_addr=$serve_http grpc_addr=$serve_grpc
log "server (pid $server_pid): HTTP $http_addr, gRPC $grpc_addr"

# Machine-wide busy CPU and the server's CPU, in clock ticks: whatever else
# the machine did during a run (other users' work) shows as "other load".
hz=$(getconf CLK_TCK)
cores=$(nproc)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
server_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$server_pid/stat"; }

# served prints how many "simple" requests the server has answered successfully.
served() {
	local n
	n=$(curl -sf "http://$http_addr/v2/models/simple/stats" | jq -r '.model_stats[0].inference_stats.success.count') &&
		[[ $n =~ ^[0-9]+$ ]] || die "cannot read the server's statistics (did perfgo serve die?): $(tail -n 3 "$tmp/server.log")"
	echo "$n"
}

# --- the same request for every tool -------------------------------------------
# perfgo and bareloop build theirs from the model (pkg/inputs); ghz and wrk
# send the same tensors: INPUT0 = 0..15, INPUT1 = 1s, INT32 [1,16], both
# outputs requested (binary on HTTP).
int32s() { local v; for v in "$@"; do printf "\\x$(printf %02x "$v")\\x00\\x00\\x00"; done; }
int32s $(seq 0 15) >"$tmp/in0.bin"
int32s $(printf '1 %.0s' $(seq 16)) >"$tmp/in1.bin"
jq -n --arg a "$(base64 -w0 "$tmp/in0.bin")" --arg b "$(base64 -w0 "$tmp/in1.bin")" '{
	model_name: "simple",
	inputs: [{name: "INPUT0", datatype: "INT32", shape: [1, 16]}, {name: "INPUT1", datatype: "INT32", shape: [1, 16]}],
	outputs: [{name: "OUTPUT0"}, {name: "OUTPUT1"}],
	raw_input_contents: [$a, $b]}' >"$tmp/ghz-data.json"
# perfgo/data: the same model from a perf_analyzer data file of 16 steps
# (INPUT0 = k..k+15, INPUT1 = 1s, validation_data with both outputs), so
# that each request differs and every answer is checked against it.
jq -n '{data: [range(16) as $k | {INPUT0: [range($k; $k + 16)], INPUT1: [range(16) | 1]}],
	validation_data: [range(16) as $k | {OUTPUT0: [range($k + 1; $k + 17)], OUTPUT1: [range($k - 1; $k + 15)]}]}' >"$tmp/simple-data.json"
http_header='{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","parameters":{"binary_data_size":64}},{"name":"INPUT1","shape":[1,16],"datatype":"INT32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}},{"name":"OUTPUT1","parameters":{"binary_data":true}}]}'
wrk_post_script "$tmp/post.lua" "$tmp/post.body" "$http_header" "$tmp/in0.bin" "$tmp/in1.bin"
# Check both bodies before measuring anything.
wrk_post_try "http://$http_addr/v2/models/simple/infer" "$tmp/post.body" "$http_header" ||
	die "the server rejected the HTTP request body wrk would send"

# --- one measured run -----------------------------------------------------------
rows=$tmp/rows.tsv # tool proto conc throughput cpu_us requests rss_kib status server_us other_pct
: >"$rows"
: >"$tmp/commands"
failures=0
limit=$(( 4 * secs + 4 * 4 * rss_secs + 60 )) # generous: a run is stopped only if it hangs

# measure TOOL PROTO CONC COMMAND...: runs COMMAND under GNU time (bounded by
# timeout) and appends a row; throughput comes from the tool's own report.
measure() {
	local tool=$1 proto=$2 conc=$3
	shift 3
	local before after rc=0 tput= status=ok
	rm -f "$tmp/perfgo.json" "$tmp/ghz.json" "$tmp/time"
	printf '%s\n' "$*" >>"$tmp/commands"
	before=$(served)
	local b0 s0 b1 s1
	b0=$(busy_ticks) s0=$(server_ticks)
	timeout -k 10 "$limit" /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" &
	tool_pid=$!
	wait "$tool_pid" || rc=$?
	tool_pid=
	b1=$(busy_ticks) s1=$(server_ticks)
	after=$(served)
	case $tool in
	perfgo*) tput=$(jq -r '.levels[0].client.throughput // empty' "$tmp/perfgo.json" 2>/dev/null || true) ;;
	bareloop*) tput=$(sed -n 's/.*throughput=\([0-9.]*\).*/\1/p' "$tmp/out") ;;
	ghz) tput=$(jq -r '.rps // empty' "$tmp/ghz.json" 2>/dev/null || true) ;;
	wrk) tput=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/out")
		grep -q 'Non-2xx' "$tmp/out" && status="non-2xx answers" ;;
	esac
	local wall=0 user=0 sys=0 rss=0
	if [[ -s $tmp/time ]]; then
		read -r wall user sys rss < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tmp/time" | tail -1) || true
	fi
	local requests=$(( after - before ))
	if (( rc != 0 )) || [[ -z $tput ]] || (( requests <= 0 )); then
		status="FAILED (exit $rc): $(tail -n 2 "$tmp/err" "$tmp/out" | grep -v '^==>' | grep . | tail -n 1 | cut -c1-120)"
		failures=$(( failures + 1 ))
		tput=0
	fi
	local cpu_us server_us other
	cpu_us=$(awk -v u="$user" -v s="$sys" -v n="$requests" 'BEGIN { printf "%.2f", (n > 0) ? (u + s) * 1e6 / n : 0 }')
	server_us=$(awk -v t=$(( s1 - s0 )) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.2f", (n > 0) ? t / hz * 1e6 / n : 0 }')
	[[ -n ${BENCH_DEBUG:-} ]] && log "debug: busy $(( b1 - b0 )) server $(( s1 - s0 )) ticks, tool $user+$sys s, wall $wall s"
	# Busy CPU that was neither the server nor the tool, as a share of the
	# machine during the run.
	other=$(awk -v b=$(( b1 - b0 )) -v s=$(( s1 - s0 )) -v hz="$hz" -v u="$user" -v y="$sys" -v w="$wall" -v c="$cores" \
		'BEGIN { o = (b - s) / hz - u - y; if (o < 0 || w <= 0) o = 0; printf "%.1f", 100 * o / (w * c) }')
	printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$proto" "$conc" "$tput" "$cpu_us" "$requests" "$rss" "$status" "$server_us" "$other" >>"$rows"
	log "$(printf '%-18s %-4s c=%-3s %10.0f req/s %8s µs/req  %9s requests  RSS %6s KiB  other load %5s%%  %s' "$tool" "$proto" "$conc" "$tput" "$cpu_us" "$requests" "$rss" "$other" "$status")"
}

window_ms=$(( secs * 1000 / 3 ))
# perfgo_cmd PROTO ADDR CONC WINDOW_MS [VAR=VALUE...]: sets cmd to one
# perfgo level of 3 windows (stable by construction: -s 1000000 -r 3).
perfgo_cmd() {
	local proto=$1 addr=$2 conc=$3 window=$4
	shift 4
	cmd=(env "$@" "$tmp/perfgo" -m simple -i "$proto" -u "$addr" --concurrency-range "$conc"
		-p "$window" -s 1000000 -r 3 --json "$tmp/perfgo.json")
}

runs=0
for proto in $protocols; do for _ in $concurrency; do
	[[ $proto == grpc ]] && runs=$(( runs + 4 )) || runs=$(( runs + 2 + 2 * $(wc -w <<<"$transports") ))
done; done
runs=$(( runs * repeat ))
log "$runs load runs of ${secs}s, then RSS and allocation runs: about $(( (runs * (2 * secs + 1) / 2 + 10 * rss_secs + 120) / 60 )) minutes"

# Rounds go over the whole matrix, so that drift on a shared machine spreads
# over every tool instead of favouring whichever ran first.
for round in $(seq "$repeat"); do
	log "round $round of $repeat"
	for proto in $protocols; do
		for conc in $concurrency; do
			if [[ $proto == grpc ]]; then
				# ghz gets as many connections as perfgo: one per worker.
				perfgo_cmd grpc "$grpc_addr" "$conc" "$window_ms"
				measure perfgo grpc "$conc" "${cmd[@]}"
				perfgo_cmd grpc "$grpc_addr" "$conc" "$window_ms"
				measure perfgo/data grpc "$conc" "${cmd[@]}" --input-data "$tmp/simple-data.json"
				measure bareloop grpc "$conc" "$tmp/bareloop" -i grpc -u "$grpc_addr" -c "$conc" -d "${secs}s"
				measure ghz grpc "$conc" "$ghz" --insecure --proto proto/grpc_service.proto --import-paths proto \
					--call inference.GRPCInferenceService/ModelInfer -D "$tmp/ghz-data.json" \
					--disable-template-functions --disable-template-data \
					-c "$conc" --connections "$conc" -z "${secs}s" -O json -o "$tmp/ghz.json" "$grpc_addr"
			else
				perfgo_cmd http "$http_addr" "$conc" "$window_ms"
				measure perfgo/data http "$conc" "${cmd[@]}" --input-data "$tmp/simple-data.json"
				for t in $transports; do
					perfgo_cmd http "$http_addr" "$conc" "$window_ms" PERFGO_HTTP_TRANSPORT="$t"
					measure "perfgo/$t" http "$conc" "${cmd[@]}"
					measure "bareloop/$t" http "$conc" env PERFGO_HTTP_TRANSPORT="$t" "$tmp/bareloop" -i http -u "$http_addr" -c "$conc" -d "${secs}s"
				done
				measure wrk http "$conc" wrk -t $(( conc < 2 ? conc : 2 )) -c "$conc" -d "${secs}s" -s "$tmp/post.lua" \
					"http://$http_addr/v2/models/simple/infer"
			fi
		done
	done
done

# --- memory: a short run and one 4x longer --------------------------------------
for proto in $protocols; do
	addr=$grpc_addr
	[[ $proto == http ]] && addr=$http_addr
	perfgo_cmd "$proto" "$addr" "$rss_conc" $(( rss_secs * 1000 / 3 ))
	measure "perfgo rss ${rss_secs}s" "$proto" "$rss_conc" "${cmd[@]}"
	perfgo_cmd "$proto" "$addr" "$rss_conc" $(( 4 * rss_secs * 1000 / 3 ))
	measure "perfgo rss $(( 4 * rss_secs ))s" "$proto" "$rss_conc" "${cmd[@]}"
done

# --- allocations per request of the worker path ----------------------------------
log "allocation benchmark (go test -bench WorkerPath, $alloc_requests requests each)"
alloc_cmd="go test -run '^\$' -bench WorkerPath -benchtime=${alloc_requests}x -count=1 ./bench/"
printf '%s\n' "$alloc_cmd" >>"$tmp/commands"
alloc_failed=
if ! timeout -k 10 600 go test -run '^$' -bench WorkerPath -benchtime="${alloc_requests}x" -count=1 ./bench/ >"$tmp/alloc.out" 2>&1; then
	alloc_failed=$(tail -n 5 "$tmp/alloc.out")
	log "allocation benchmark failed: $alloc_failed"
	failures=$(( failures + 1 ))
fi

# --- the report ---------------------------------------------------------------------
# Medians over the rounds: throughput, CPU and requests each on its own,
# the largest RSS, the first failure.
all_rows=$rows
rows=$tmp/median.tsv
awk -F'\t' '!seen[$1 FS $2 FS $3]++ { print $1 "\t" $2 "\t" $3 }' "$all_rows" | while IFS=$'\t' read -r tool proto conc; do
	awk -F'\t' -v t="$tool" -v p="$proto" -v c="$conc" '$1 == t && $2 == p && $3 == c' "$all_rows" >"$tmp/one"
	median() { cut -f"$1" "$tmp/one" | bench_median; }
	status=$(cut -f8 "$tmp/one" | grep -v '^ok$' | head -n 1 || true)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$proto" "$conc" "$(median 4)" "$(median 5)" "$(median 6)" \
		"$(cut -f7 "$tmp/one" | sort -n | tail -n 1)" "${status:-ok}" "$(median 9)" "$(cut -f10 "$tmp/one" | sort -g | tail -n 1)"
done >"$rows"

# lookup TOOL PROTO CONC FIELD: a field of a row (4 throughput, 5 cpu, 6 requests, 7 rss, 8 status).
lookup() { awk -F'\t' -v t="$1" -v p="$2" -v c="$3" -v f="$4" '$1 == t && $2 == p && $3 == c { print $f }' "$rows"; }
# check NAME VALUE OP LIMIT: prints "ratio|PASS" or "ratio|MISS" (empty when a side is missing).
verdict() {
	awk -v a="$1" -v b="$2" -v op="$3" -v lim="$4" 'BEGIN {
		if (a <= 0 || b <= 0) { print "n/a|n/a"; exit }
		r = a / b; ok = (op == ">=") ? r >= lim : r <= lim
		printf "%.2f|%s\n", r, ok ? "PASS" : "MISS" }'
}

targets=$tmp/targets.tsv # check measured target result
: >"$targets"
add_target() { # NAME A B OP LIMIT
	local v
	v=$(verdict "$2" "$3" "$4" "$5")
	printf '%s\t%s×\t%s %s×\t%s\n' "$1" "${v%%|*}" "$4" "$5" "${v##*|}" >>"$targets"
}
for proto in $protocols; do
	for conc in $concurrency; do
		if [[ $proto == grpc ]]; then
			add_target "gRPC c=$conc: perfgo throughput / bareloop" "$(lookup perfgo grpc "$conc" 4)" "$(lookup bareloop grpc "$conc" 4)" ">=" 0.9
			add_target "gRPC c=$conc: perfgo CPU per request / ghz" "$(lookup perfgo grpc "$conc" 5)" "$(lookup ghz grpc "$conc" 5)" "<=" 0.5
		else
			for t in $transports; do
				add_target "HTTP c=$conc: perfgo/$t throughput / bareloop/$t" "$(lookup "perfgo/$t" http "$conc" 4)" "$(lookup "bareloop/$t" http "$conc" 4)" ">=" 0.9
				add_target "HTTP c=$conc: perfgo/$t CPU per request / wrk" "$(lookup "perfgo/$t" http "$conc" 5)" "$(lookup wrk http "$conc" 5)" "<=" 1.2
			done
		fi
	done
done
for proto in $protocols; do
	add_target "$proto c=$rss_conc: perfgo peak RSS, ${rss_secs}s×4 run / ${rss_secs}s run" \
		"$(lookup "perfgo rss $(( 4 * rss_secs ))s" "$proto" "$rss_conc" 7)" "$(lookup "perfgo rss ${rss_secs}s" "$proto" "$rss_conc" 7)" "<=" 1.1
done
misses=$(awk -F'\t' '$4 == "MISS"' "$targets" | wc -l)

# ratio column of the main table, for perfgo's rows.
ratio_note() { # TOOL PROTO CONC
	local tool=$1 proto=$2 conc=$3 bare ref refname tlim
	case $tool/$proto in
	perfgo/grpc | perfgo/data/grpc) bare=bareloop ref=ghz tlim=0.5 ;;
	perfgo/data/http) bare=bareloop/fasthttp ref=wrk tlim=1.2 ;;
	perfgo/*) bare=bareloop/${tool#perfgo/} ref=wrk tlim=1.2 ;;
	*) echo "reference"; return ;;
	esac
	local a b
	a=$(verdict "$(lookup "$tool" "$proto" "$conc" 4)" "$(lookup "$bare" "$proto" "$conc" 4)" ">=" 0.9)
	b=$(verdict "$(lookup "$tool" "$proto" "$conc" 5)" "$(lookup "$ref" "$proto" "$conc" 5)" "<=" "$tlim")
	echo "throughput ${a%%|*}× bare (≥0.9 ${a##*|}); CPU ${b%%|*}× $ref (≤$tlim ${b##*|})"
}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem_total=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo unknown)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
{
	echo "# perfgo benchmark results"
	echo
	echo "Command: \`$cmdline\` (\`make bench\` runs \`./bench/run.sh\` with the defaults)"
	echo
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
	echo "- Machine: $(nproc) cores ($cpu_model), $mem_total, Linux $(uname -r); $(go version | cut -d' ' -f3-)"
	echo "- Tools: wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'), ghz $ghz_version (\`$ghz\`), perfgo and bareloop built from this tree"
	echo "- Server: \`perfgo serve\` on 127.0.0.1 (GOMAXPROCS unset), model \`simple\` (INT32 [1,16] ×2); server and client share the cores, nothing pinned"
	echo "- Every run lasts ${secs}s at the given concurrency (perfgo: 3 windows of ${window_ms} ms, \`-s 1000000 -r 3\`), in $repeat rounds over all runs;"
	echo "  the tables show the median of the rounds. Throughput is each tool's own report."
	echo "  Client CPU per request = user+sys CPU of the tool's process (GNU time) / requests the server counted while it ran."
	echo "  ghz and wrk get one connection per request in flight, as perfgo has over both protocols."
	echo "  Server CPU per request is \`perfgo serve\`'s; other load is busy CPU that was neither the server nor the tool (/proc/stat), as a share of all cores (the largest of the rounds)."
	echo
	echo "## Throughput and client CPU"
	echo
	echo "| protocol | concurrency | tool | throughput (req/s) | client CPU (µs/request) | ratio to target | requests | peak RSS (MiB) | server CPU (µs/request) | other load (%) |"
	echo "|---|---:|---|---:|---:|---|---:|---:|---:|---:|"
	awk -F'\t' '$1 !~ /rss/' "$rows" | while IFS=$'\t' read -r tool proto conc tput cpu requests rss status server other; do
		note=$(ratio_note "$tool" "$proto" "$conc")
		[[ $status != ok ]] && note="$status"
		printf '| %s | %s | %s | %.0f | %.1f | %s | %.0f | %.1f | %.1f | %s |\n' "$proto" "$conc" "$tool" "$tput" "$cpu" "$note" "$requests" \
			"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$server" "$other"
	done
	noisy=$(awk -F'\t' '$10 > 10' "$rows" | wc -l)
	if (( noisy > 0 )); then
		echo
		echo "**Warning:** in $noisy row(s) other work used more than 10% of the machine during a run (\"other load\"): those figures are disturbed; rerun on a quiet machine."
	fi
	echo
	echo "## Targets"
	echo
	echo "| check | measured | target | result |"
	echo "|---|---:|---:|---|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$targets"
	echo
	echo "## Memory: perfgo peak RSS, short and 4x longer run (concurrency $rss_conc)"
	echo
	echo "| protocol | run | requests | peak RSS (MiB) |"
	echo "|---|---|---:|---:|"
	awk -F'\t' '$1 ~ /rss/ { printf "| %s | %s | %s | %.1f |\n", $2, $1, $6, $7 / 1024 }' "$rows"
	echo
	echo "## Allocations per request of perfgo's worker path"
	echo
	echo "\`$alloc_cmd\`: pkg/loadgen's closed loop at concurrency 8 over pkg/client, against the reference server in a child"
	echo "process. allocs/req and B/req are marginal (a run of N requests minus a run of 5000, from runtime.MemStats), so the run's fixed"
	echo "costs (workers, histograms) cancel out; allocs/op and B/op spread them over N."
	echo
	echo "| benchmark | allocs/req | B/req | allocs/op | B/op | ns/op |"
	echo "|---|---:|---:|---:|---:|---:|"
	awk '/^BenchmarkWorkerPath/ {
		delete v; for (i = 3; i < NF; i += 2) v[$(i + 1)] = $i
		name = $1; sub(/^BenchmarkWorkerPath\//, "", name); sub(/-[0-9]+$/, "", name)
		printf "| %s | %s | %s | %s | %s | %s |\n", name, v["allocs/req"], v["B/req"], v["allocs/op"], v["B/op"], v["ns/op"] }' "$tmp/alloc.out"
	if [[ -n $alloc_failed ]]; then
		echo
		echo "**The allocation benchmark failed:**"
		echo
		echo '```'
		echo "$alloc_failed"
		echo '```'
	fi
	echo
	echo "<details><summary>Commands run</summary>"
	echo
	echo '```'
	sed "s#$tmp/#\$TMP/#g" "$tmp/commands"
	echo '```'
	echo
	echo "</details>"
} >"$out"
# Open loop (request-rate accuracy and schedule lag): its own server, after
# the closed-loop runs so that they do not share the machine.
log "open loop: bench/rate.sh"
if ! BENCH_RATE_OUT="$out" "$root/bench/rate.sh" >/dev/null; then
	log "bench/rate.sh failed"
	failures=$((failures + 1))
fi
log "streams: bench/stream.sh"
if ! BENCH_STREAM_OUT="$out" "$root/bench/stream.sh" >/dev/null; then
	log "bench/stream.sh failed"
	failures=$((failures + 1))
fi
if [[ ${BENCH_CPP:-1} != 0 ]]; then
	log "C++ servers: bench/cpp.sh"
	if ! BENCH_CPP_OUT="$out" "$root/bench/cpp.sh" >/dev/null; then
		log "bench/cpp.sh failed"
		failures=$((failures + 1))
	fi
fi
cat "$out"
log "wrote $out"
if (( failures > 0 )); then
	die "$failures run(s) failed: see the table"
fi
if (( misses > 0 )); then
	log "$misses target(s) missed"
	(( strict == 0 )) || exit 1
fi
