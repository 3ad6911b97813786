#!/usr/bin/env bash
# bench/cpp.sh: perfgo against a C++ gRPC server, beside two ceilings.
#
# Users run Triton, C++ on gRPC's C core, not `perfgo serve`. This builds
# bench/cpp (a C++ KServe v2 server with the model "identity", and a bare
# C++ client loop), starts the server on loopback and runs, in interleaved
# rounds, for the same duration and concurrency each:
#   perfgo    the CLI, one level of 3 windows (identity, --shape INPUT0:16)
#   bareloop  perfgo's client and request with no measurement (Go ceiling)
#   cpp loop  gRPC's synchronous C++ client, same request (C++ ceiling)
# It prints a markdown table of medians, every round, and perfgo / C++ loop
# for throughput and average latency.
#
# Settings (environment variables):
#   BENCH_CPP_REPEAT       rounds (default 5)
#   BENCH_CPP_CONCURRENCY  concurrency levels (default "1 8")
#   BENCH_CPP_SECONDS      length of every run (default 6; perfgo: 3 windows of a third)
#
# Needs g++, make, pkg-config and Debian's libgrpc++-dev, protobuf-compiler-grpc,
# libprotobuf-dev, protobuf-compiler (installed when run as root). Every
# process started here is stopped by its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset GOMAXPROCS

repeat=${BENCH_CPP_REPEAT:-5}
concurrency=${BENCH_CPP_CONCURRENCY:-1 8}
secs=${BENCH_CPP_SECONDS:-6}

die() { echo "bench/cpp: $*" >&2; exit 1; }
log() { echo "bench/cpp: $*" >&2; }

positive_int() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1=$2: use a whole number above 0"; }
positive_int BENCH_CPP_REPEAT "$repeat"
positive_int BENCH_CPP_SECONDS "$secs"
for c in $concurrency; do positive_int BENCH_CPP_CONCURRENCY "$c"; done
(( secs >= 3 )) || die "BENCH_CPP_SECONDS=$secs: use 3 or more (perfgo measures 3 windows of a third each)"

# --- what it needs ---------------------------------------------------------------
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/dl/)"
command -v jq >/dev/null || die "jq is missing: install it (Debian: apt-get install -y jq)"
packages=(g++ make pkg-config libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler)
if ! command -v g++ >/dev/null || ! command -v protoc >/dev/null || ! command -v grpc_cpp_plugin >/dev/null ||
	! pkg-config --exists grpc++ protobuf 2>/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing ${packages[*]} (apt-get)"
		apt-get install -y -q "${packages[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${packages[@]}" >/dev/null; } ||
			die "could not install the C++ gRPC packages: apt-get install -y ${packages[*]}"
	else
		die "the C++ gRPC toolchain is missing: install it (Debian: sudo apt-get install -y ${packages[*]})"
	fi
fi

# --- processes, stopped by PID on exit ---------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/perfgo-bench-cpp.XXXXXX")
server_pid=
tool_pid=
cleanup() {
	local pid
	for pid in $tool_pid $server_pid; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $tool_pid $server_pid; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building bench/cpp (the first build takes a few minutes), perfgo and bareloop"
make -s -C bench/cpp >"$tmp/make.log" 2>&1 || die "make -C bench/cpp failed: $(tail -n 5 "$tmp/make.log")"
go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed"
go build -o "$tmp/bareloop" ./bench/bareloop || die "go build ./bench/bareloop failed"

# The server also stops when its stdin ends: a FIFO held open by this script
# takes it down even if the script is killed before its trap runs.
mkfifo "$tmp/server.in"
bench/cpp/build/server 0 <"$tmp/server.in" >"$tmp/server.log" 2>&1 &
server_pid=$!
exec 3>"$tmp/server.in"
addr=
for _ in $(seq 100); do
	addr=$(awk '/gRPC on/ {print $NF}' "$tmp/server.log")
	[[ -n $addr ]] && break
	kill -0 "$server_pid" 2>/dev/null || die "the C++ server exited: $(cat "$tmp/server.log")"
	sleep 0.1
done
[[ -n $addr ]] || die "the C++ server did not report its address in 10 s: $(cat "$tmp/server.log")"
log "C++ server (pid $server_pid) on $addr"

rows=$tmp/rows.tsv # round tool conc throughput latency_us
: >"$rows"
# run TOOL CONC CMD...: runs one tool in the background (so the trap can stop
# it) and appends its throughput and average latency ("" when it has none).
run() {
	local tool=$1 conc=$2 rc=0 tput lat=
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" 3>&- &
	tool_pid=$!
	wait "$tool_pid" || rc=$?
	tool_pid=
	(( rc == 0 )) || die "$tool at concurrency $conc failed (exit $rc): $(tail -n 3 "$tmp/err" "$tmp/out")"
	case $tool in
	perfgo) tput=$(jq -r '.levels[0].client.throughput' "$tmp/perfgo.json")
		lat=$(jq -r '.levels[0].client.latency.mean_us' "$tmp/perfgo.json") ;;
	bareloop) tput=$(sed -n 's/.*throughput=\([0-9.]*\).*/\1/p' "$tmp/out") ;;
	"cpp loop") read -r tput lat < <(awk '{ print $6, $8 }' "$tmp/out") ;;
	esac
	[[ $tput =~ ^[0-9.]+$ ]] || die "$tool at concurrency $conc: no throughput in its output: $(head -c 300 "$tmp/out")"
	printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$tool" "$conc" "$tput" "$lat" >>"$rows"
	log "$(printf 'round %s  %-8s c=%-3s %10.0f req/s  %s' "$round" "$tool" "$conc" "$tput" "${lat:+avg latency $lat µs}")"
}

window_ms=$(( secs * 1000 / 3 ))
log "$repeat rounds of $(wc -w <<<"$concurrency") levels x 3 tools, ${secs}s each: about $(( repeat * $(wc -w <<<"$concurrency") * 3 * (secs + 1) / 60 + 1 )) minutes"
for round in $(seq "$repeat"); do
	for conc in $concurrency; do
		run perfgo "$conc" "$tmp/perfgo" -m identity -i grpc -u "$addr" --shape INPUT0:16 --concurrency-range "$conc" \
			-p "$window_ms" -r 3 -s 1000 --json "$tmp/perfgo.json"
		run bareloop "$conc" "$tmp/bareloop" -i grpc -u "$addr" -m identity -shape INPUT0:16 -c "$conc" -d "${secs}s"
		run "cpp loop" "$conc" bench/cpp/build/loop "$addr" "$conc" "$secs"
	done
done

# median TOOL CONC FIELD (4 throughput, 5 latency): empty when the tool has none.
median() {
	awk -F'\t' -v t="$1" -v c="$2" -v f="$3" '$2 == t && $3 == c && $f != "" { print $f }' "$rows" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
num() { [[ -n $1 ]] && printf "%.$2f" "$1" || echo "—"; }

echo "## perfgo against a C++ gRPC server (bench/cpp.sh)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores;"
echo "bench/cpp/build/server (gRPC C++ $(pkg-config --modversion grpc++), synchronous API) on 127.0.0.1, model identity, FP32 [1,16];"
echo "$repeat rounds of ${secs}s per tool and level, interleaved; medians. perfgo: \`-p $window_ms -r 3 -s 1000\`."
echo
echo "| concurrency | tool | throughput (req/s) | avg latency (µs) | perfgo / C++ loop |"
echo "|---:|---|---:|---:|---|"
for conc in $concurrency; do
	ct=$(median "cpp loop" "$conc" 4) cl=$(median "cpp loop" "$conc" 5)
	for tool in perfgo bareloop "cpp loop"; do
		t=$(median "$tool" "$conc" 4) l=$(median "$tool" "$conc" 5)
		note=
		[[ $tool == perfgo ]] && note="throughput $(ratio "$t" "$ct")×, latency $(ratio "$l" "$cl")×"
		[[ $tool == bareloop ]] && note="(bareloop / C++ loop throughput $(ratio "$t" "$ct")×)"
		echo "| $conc | $tool | $(num "$t" 0) | $(num "$l" 1) | $note |"
	done
done
echo
echo "Every round:"
echo
echo "| round | concurrency | tool | throughput (req/s) | avg latency (µs) |"
echo "|---:|---:|---|---:|---:|"
while IFS=$'\t' read -r r tool conc t l; do
	echo "| $r | $conc | $tool | $(num "$t" 0) | $(num "$l" 1) |"
done <"$rows"
