#!/usr/bin/env bash
# bench/rss.sh: perfgo's peak RSS and throughput at one concurrency, over
# gRPC and HTTP, against one `perfgo serve` on loopback, in interleaved
# rounds: every round runs each variant once (A B A B ...), so that drift on
# a shared machine spreads over all of them. Prints every round and the
# medians. Issue 13's target: at most 60 MB peak RSS at concurrency 1,000.
#
# Settings (environment variables):
#   BENCH_RSS_CONCURRENCY  concurrency (default 1000)
#   BENCH_RSS_SECONDS      length of each run (default 6; perfgo: 3 windows of a third)
#   BENCH_RSS_ROUNDS       rounds (default 3)
#   BENCH_RSS_PROTOCOLS    protocols (default "grpc http")
#   BENCH_RSS_BASE         a git revision to build and run as variant "base" beside
#                          this tree (variant "tree"); empty: this tree only
#   BENCH_RSS_ENV          extra variants, ";"-separated VAR=VALUE lists run with this
#                          tree's binary (e.g. "GOGC=100;GOMEMLIMIT=50MiB")
#
# Peak RSS is GNU time's %M for the perfgo process; throughput is perfgo's
# JSON report. Every process started here is stopped by its PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

conc=${BENCH_RSS_CONCURRENCY:-1000}
secs=${BENCH_RSS_SECONDS:-6}
rounds=${BENCH_RSS_ROUNDS:-3}
protocols=${BENCH_RSS_PROTOCOLS:-grpc http}
base=${BENCH_RSS_BASE:-}
extra=${BENCH_RSS_ENV:-}

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init rss

positive_int BENCH_RSS_CONCURRENCY "$conc"
positive_int BENCH_RSS_SECONDS "$secs"
positive_int BENCH_RSS_ROUNDS "$rounds"
(( secs >= 3 )) || die "BENCH_RSS_SECONDS=$secs: use 3 or more (perfgo measures 3 windows of a third each)"
for p in $protocols; do [[ $p == grpc || $p == http ]] || die "BENCH_RSS_PROTOCOLS has '$p': use grpc and/or http"; done
[[ -x /usr/bin/time ]] || die "GNU time is missing: install it (Debian: sudo apt-get install -y time)"
command -v jq >/dev/null || die "jq is missing: install it (Debian: sudo apt-get install -y jq)"
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/dl/)"

# The base revision's worktree goes with everything else on exit.
bench_on_exit() { [[ -z $base ]] || git worktree remove --force "$tmp/base-src" 2>/dev/null; }

log "building perfgo"
go build -o "$tmp/tree" ./cmd/perfgo || die "go build ./cmd/perfgo failed"
variants=(tree)
if [[ -n $base ]]; then
	git worktree add -q --detach "$tmp/base-src" "$base" || die "BENCH_RSS_BASE=$base: not a revision of this repository"
	(cd "$tmp/base-src" && go build -o "$tmp/base" ./cmd/perfgo) || die "go build of $base failed"
	variants=(base tree)
fi
IFS=';' read -r -a extra_envs <<<"$extra"
for e in "${extra_envs[@]}"; do
	[[ -n $e ]] && variants+=("tree:$e")
done

bench_serve "$tmp/tree" "$tmp/server.log"
server_pid=$serve_pid http_addr=$serve_http grpc_addr=$serve_grpc
log "server (pid $server_pid): HTTP $http_addr, gRPC $grpc_addr; concurrency $conc, ${secs}s runs, $rounds rounds"

rows=$tmp/rows.tsv # variant proto round rss_kib throughput load1
: >"$rows"
window_ms=$(( secs * 1000 / 3 ))
for round in $(seq "$rounds"); do
	for proto in $protocols; do
		addr=$grpc_addr
		[[ $proto == http ]] && addr=$http_addr
		for v in "${variants[@]}"; do
			bin=$tmp/${v%%:*} envs=()
			[[ $v == *:* ]] && read -r -a envs <<<"${v#*:}"
			rm -f "$tmp/perfgo.json" "$tmp/time"
			rc=0
			env "${envs[@]}" /usr/bin/time -f '%M' -o "$tmp/time" "$bin" -m simple -i "$proto" -u "$addr" \
				--concurrency-range "$conc" -p "$window_ms" -s 1000000 -r 3 --json "$tmp/perfgo.json" >"$tmp/out" 2>&1 &
			tool_pid=$!
			wait "$tool_pid" || rc=$?
			tool_pid=
			(( rc == 0 )) || die "$v $proto exited $rc: $(tail -n 2 "$tmp/out")"
			rss=$(tail -n 1 "$tmp/time")
			tput=$(jq -r '.levels[0].client.throughput' "$tmp/perfgo.json")
			load=$(cut -d' ' -f1 /proc/loadavg)
			printf '%s\t%s\t%s\t%s\t%.0f\t%s\n' "$v" "$proto" "$round" "$rss" "$tput" "$load" >>"$rows"
			log "$(printf 'round %s %-4s %-28s peak RSS %6.1f MB  %8.0f infer/s  loadavg %s' "$round" "$proto" "$v" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$tput" "$load")"
		done
	done
done

echo "perfgo at concurrency $conc, ${secs}s per run, $rounds interleaved rounds (peak RSS in MiB, throughput in infer/s, loadavg after each run)"
echo
echo "| protocol | variant | peak RSS median | every round | throughput median | every round | loadavg |"
echo "|---|---|---:|---|---:|---|---|"
for proto in $protocols; do
	for v in "${variants[@]}"; do
		awk -F'\t' -v v="$v" -v p="$proto" '$1 == v && $2 == p' "$rows" >"$tmp/one"
		printf '| %s | %s | %.1f | %s | %.0f | %s | %s |\n' "$proto" "$v" \
			"$(cut -f4 "$tmp/one" | awk '{ print $1 / 1024 }' | bench_median)" "$(cut -f4 "$tmp/one" | awk '{ printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1024 }')" \
			"$(cut -f5 "$tmp/one" | bench_median)" "$(cut -f5 "$tmp/one" | paste -sd' ')" "$(cut -f6 "$tmp/one" | paste -sd' ')"
	done
done
